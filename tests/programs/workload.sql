-- workload.sql - an SQLite workload for the real-program test: tables, thousands of rows,
-- indexes, joins, group by; output compared with and without snug under LD_PRELOAD.
PRAGMA cache_size = 2000;
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, city TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER REFERENCES customers(id),
                     amount REAL, note TEXT);
CREATE TABLE items (order_id INTEGER, sku TEXT, qty INTEGER);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO customers SELECT i, 'customer-' || i, 'city-' || (i % 37) FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40000)
INSERT INTO orders SELECT i, 1 + (i * 7919) % 5000, (i % 1000) / 10.0, printf('%.*c', i % 200, 'x') FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
INSERT INTO items SELECT 1 + (i * 31) % 40000, 'sku-' || (i % 997), 1 + i % 9 FROM n;
CREATE INDEX items_order ON items(order_id);
CREATE INDEX orders_customer ON orders(customer);
SELECT count(*), sum(amount), max(length(note)) FROM orders;
SELECT c.city, count(DISTINCT c.id), count(o.id), round(sum(o.amount), 2)
  FROM customers c JOIN orders o ON o.customer = c.id
  GROUP BY c.city ORDER BY c.city LIMIT 10;
SELECT i.sku, sum(i.qty) AS q, count(DISTINCT o.customer)
  FROM items i JOIN orders o ON o.id = i.order_id
  GROUP BY i.sku ORDER BY q DESC, i.sku LIMIT 10;
UPDATE orders SET note = note || note WHERE id % 3 = 0;
DELETE FROM items WHERE qty = 5;
SELECT count(*), sum(qty) FROM items;
SELECT group_concat(name, '|') FROM (SELECT name FROM customers ORDER BY name DESC LIMIT 20);
SELECT customer, count(*) AS n FROM orders GROUP BY customer HAVING n > 8 ORDER BY n DESC, customer LIMIT 5;
