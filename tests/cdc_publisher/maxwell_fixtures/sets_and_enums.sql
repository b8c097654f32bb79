create database ours_sets
use ours_sets
set sql_mode = ''
create table s ( id int primary key, st set('a','b','c') NOT NULL, sn set('a','b') NULL, e enum('small','big'), eb enum('', 'x') )

insert into s values (1, '', NULL, 'nope', '')
-> {database: "ours_sets", table: "s", type: "insert", data: {id: 1, st: [], sn: null, e: null, eb: ""}}

insert into s values (2, 'c,a', 'b', 'big', 'x')
-> {database: "ours_sets", table: "s", type: "insert", data: {id: 2, st: ["a", "c"], sn: ["b"], e: "big", eb: "x"}}

update s set st = '' where id = 2
-> {database: "ours_sets", table: "s", type: "update", data: {id: 2, st: [], sn: ["b"], e: "big", eb: "x"}, old: {st: ["a", "c"]}}
