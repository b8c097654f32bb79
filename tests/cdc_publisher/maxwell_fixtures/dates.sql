create database ours_dates
use ours_dates
set time_zone = '+00:00'
create table d ( id int primary key, da date, dt datetime, dt3 datetime(3), dt6 datetime(6), ts timestamp(2) NULL, y year )

insert into d values (1, '0000-00-00', '0000-00-00 00:00:00', 0, 0, 0, 0)
-> {database: "ours_dates", table: "d", type: "insert", data: {id: 1, da: "0000-00-00", dt: "0000-00-00 00:00:00",
     dt3: "0000-00-00 00:00:00.000", dt6: "0000-00-00 00:00:00.000000", ts: "0000-00-00 00:00:00.00", y: 1900}}

insert into d values (2, '2024-00-10', '2024-05-00 10:11:12', '0000-01-01 00:00:00.5', NULL, '1970-01-01 00:00:01', 2024)
-> {database: "ours_dates", table: "d", type: "insert", data: {id: 2, da: "0000-00-00", dt: "0000-00-00 00:00:00",
     dt3: "0000-00-00 00:00:00.000", dt6: null, ts: "1970-01-01 00:00:01.00", y: 2024}}

insert into d values (3, '0001-01-01', '0001-01-01 00:00:00', '0999-12-31 23:59:59.999', '0099-02-03 04:05:06.000007', '2038-01-19 03:14:07.99', 1901)
-> {database: "ours_dates", table: "d", type: "insert", data: {id: 3, da: "0001-01-01", dt: "0001-01-01 00:00:00",
     dt3: "0999-12-31 23:59:59.999", dt6: "0099-02-03 04:05:06.000007", ts: "2038-01-19 03:14:07.99", y: 1901}}

set sql_mode = 'ALLOW_INVALID_DATES'
insert into d values (4, '2023-02-29', '2023-02-30 10:00:00', '2024-04-31 23:59:59.250', '2024-02-31 00:00:00.000001', NULL, NULL)
-> {database: "ours_dates", table: "d", type: "insert", data: {id: 4, da: "2023-03-01", dt: "2023-03-02 10:00:00",
     dt3: "2024-05-01 23:59:59.250", dt6: "2024-03-02 00:00:00.000001", ts: null, y: null}}

insert into d values (5, '1582-10-10', '1582-10-04 23:59:59', '1582-10-15 00:00:00', '1500-02-29 12:00:00', NULL, NULL)
-> {database: "ours_dates", table: "d", type: "insert", data: {id: 5, da: "1582-10-20", dt: "1582-10-04 23:59:59",
     dt3: "1582-10-15 00:00:00.000", dt6: "1500-02-29 12:00:00.000000", ts: null, y: null}}

update d set dt = '2023-03-02 10:00:00' where id = 4
-> {database: "ours_dates", table: "d", type: "update", data: {id: 4, da: "2023-03-01", dt: "2023-03-02 10:00:00",
     dt3: "2024-05-01 23:59:59.250", dt6: "2024-03-02 00:00:00.000001", ts: null, y: null}}
