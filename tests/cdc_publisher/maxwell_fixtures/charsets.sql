create database ours_charsets
create table ours_charsets.c ( id int primary key, u2 text charset ucs2, u16 varchar(20) charset utf16, u16le varchar(20) charset utf16le, u32 char(10) charset utf32, l1 varchar(20) charset latin1, w1251 varchar(20) charset cp1251, gr varchar(20) charset greek, he varchar(20) charset hebrew, l2 varchar(20) charset latin2, k8 varchar(20) charset koi8r, sj varchar(20) charset sjis, kr varchar(20) charset euckr, th varchar(20) charset tis620, mb3 varchar(20) charset utf8mb3, bin varbinary(8) )
insert into ours_charsets.c values (1, 'Δ∂ƒ ok', 'żółw 😀', 'ñandú 😀', 'ok 😀', '€ café', 'Привет', 'αβγ', 'שלום', 'Łódź', 'мир', '日本語', '한국어', 'ไทย', 'über', x'00ff')
-> {database: "ours_charsets", table: "c", type: "insert", data: {id: 1, u2: "Δ∂ƒ ok", u16: "żółw 😀", u16le: "ñandú 😀", u32: "ok 😀",
     l1: "€ café", w1251: "Привет", gr: "αβγ", he: "שלום", l2: "Łódź", k8: "мир", sj: "日本語", kr: "한국어", th: "ไทย", mb3: "über", bin: "AP8="}}
