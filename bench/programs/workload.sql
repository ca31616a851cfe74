-- workload.sql - SQL for `make bench`: sqlite3 on an in-memory database.  @N@ (rows) is
-- replaced by the harness.  Deterministic (no random()): the harness compares the output
-- across allocators.
PRAGMA cache_size = -65536;
CREATE TABLE item(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, body TEXT, price REAL);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < @N@)
INSERT INTO item SELECT i, (i * 7919) % 97,
    'name-' || ((i * 104729) % 100003),
    substr(hex(zeroblob(20 + (i * 31) % 200)), 1, 20 + (i * 31) % 200) || i,
    ((i * 613) % 10000) / 100.0
FROM c;
CREATE INDEX item_name ON item(name);
CREATE INDEX item_grp_price ON item(grp, price);
CREATE TABLE grp(id INTEGER PRIMARY KEY, label TEXT);
WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < 96)
INSERT INTO grp SELECT i, 'group ' || i FROM c;
SELECT g.label, count(*), round(sum(i.price), 2), max(length(i.body))
  FROM item i JOIN grp g ON g.id = i.grp GROUP BY g.id ORDER BY g.id LIMIT 10;
SELECT count(DISTINCT name) FROM item;
SELECT name, count(*) AS n FROM item GROUP BY name HAVING n > 1 ORDER BY n DESC, name LIMIT 5;
UPDATE item SET body = body || body, price = price * 1.1 WHERE id % 3 = 0;
DELETE FROM item WHERE id % 5 = 0;
SELECT count(*), round(sum(price), 2), sum(length(body)) FROM item;
SELECT grp, length(group_concat(name, ',')) FROM item WHERE grp < 5 GROUP BY grp ORDER BY grp;
CREATE TABLE copy AS SELECT * FROM item ORDER BY name, id;
SELECT count(*), min(name), max(name) FROM copy;
SELECT a.grp, count(*) FROM item a JOIN copy b ON a.id = b.id AND a.name = b.name
  WHERE a.price > 50 GROUP BY a.grp ORDER BY 2 DESC, 1 LIMIT 5;
DROP TABLE copy;
SELECT id, name FROM item ORDER BY body DESC, id LIMIT 3;
