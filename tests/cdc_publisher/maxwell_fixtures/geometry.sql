create database ours_gis
create table ours_gis.g ( id int primary key, g geometry NULL, p point NULL )
insert into ours_gis.g values (1, ST_GeomFromText('POINT(-1.5 0.25)'), ST_GeomFromText('POINT(3 2)', 4326))
-> {database: "ours_gis", table: "g", type: "insert", data: {id: 1, g: "POINT (-1.5 0.25)", p: "POINT (3 2)"}}
insert into ours_gis.g values (2, ST_GeomFromText('LINESTRING(0 0,10 10,20 25)'), ST_GeomFromText('POINT(0.1 100000000000000000000)'))
-> {database: "ours_gis", table: "g", type: "insert", data: {id: 2, g: "LINESTRING (0 0, 10 10, 20 25)", p: "POINT (0.1 100000000000000000000)"}}
insert into ours_gis.g values (3, ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0),(5 5,7 5,7 7,5 7,5 5))'), ST_GeomFromText('POINT(0.3333333333333333333 -0.000001)'))
-> {database: "ours_gis", table: "g", type: "insert", data: {id: 3, g: "POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0), (5 5, 7 5, 7 7, 5 7, 5 5))", p: "POINT (0.3333333333333333 -0.000001)"}}
insert into ours_gis.g values (4, ST_GeomFromText('MULTIPOINT(1 1,2 2)'), NULL)
-> {database: "ours_gis", table: "g", type: "insert", data: {id: 4, g: "MULTIPOINT ((1 1), (2 2))", p: null}}
insert into ours_gis.g values (5, ST_GeomFromText('MULTILINESTRING((0 0,1 1),(2 2,3 3))'), NULL)
-> {database: "ours_gis", table: "g", type: "insert", data: {id: 5, g: "MULTILINESTRING ((0 0, 1 1), (2 2, 3 3))", p: null}}
insert into ours_gis.g values (6, ST_GeomFromText('MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((2 2,3 2,3 3,2 2)))'), NULL)
-> {database: "ours_gis", table: "g", type: "insert", data: {id: 6, g: "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((2 2, 3 2, 3 3, 2 2)))", p: null}}
insert into ours_gis.g values (7, ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 2),LINESTRING(0 0,1 1),POLYGON((0 0,1 0,1 1,0 0)))'), NULL)
-> {database: "ours_gis", table: "g", type: "insert", data: {id: 7, g: "GEOMETRYCOLLECTION (POINT (1 2), LINESTRING (0 0, 1 1), POLYGON ((0 0, 1 0, 1 1, 0 0)))", p: null}}
insert into ours_gis.g values (8, ST_GeomFromText('GEOMETRYCOLLECTION EMPTY'), NULL)
-> {database: "ours_gis", table: "g", type: "insert", data: {id: 8, g: "GEOMETRYCOLLECTION EMPTY", p: null}}
