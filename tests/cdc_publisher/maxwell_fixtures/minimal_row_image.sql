create database ours_minimal
use ours_minimal
create table m ( id int primary key, a varchar(10), b int, s set('x','y') )

insert into m (id, a) values (1, 'one')
-> {database: "ours_minimal", table: "m", type: "insert", data: {id: 1, a: "one"}}

insert into m (id, s) values (2, '')
-> {database: "ours_minimal", table: "m", type: "insert", data: {id: 2, s: []}}

update m set b = 5 where id = 1
-> {database: "ours_minimal", table: "m", type: "update", data: {id: 1, b: 5}}

update m set id = 3 where id = 1
-> {database: "ours_minimal", table: "m", type: "update", data: {id: 3}, old: {id: 1}}

delete from m where id = 3
-> {database: "ours_minimal", table: "m", type: "delete", data: {id: 3}}

create table n ( a int, b int )
insert into n values (1, 2)
update n set b = 3
-> {database: "ours_minimal", table: "n", type: "update", data: {a: 1, b: 3}, old: {b: 2}}
