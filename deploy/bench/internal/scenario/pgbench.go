package scenario

import (
	"bytes"
	"fmt"
	"strings"
	"sync/atomic"
	"text/template"
)

// The pgbench scripts: the SQL the services send for each scenario, statement for statement, in
// the same transactions, with the same kind of values. Where the service passes values it
// computed in Go as parameters, the scripts compute them from pgbench's random integers in SQL
// (string concatenation: microseconds). Differences, all in the database's favour or neutral:
//   - writes mark their outbox row published at once (published_at = now()), so that the relay of
//     the running service, which finds other processes' rows by polling, does not publish them;
//     the row and its index entries cost the same (three entries either way), and the relay
//     deletes such rows every ten minutes, as it deletes the rows it publishes;
//   - the update sets the columns that change instead of all 37 to their (mostly unchanged)
//     values: either way PostgreSQL writes a whole new row version and every index entry;
//   - the searches read their keyword from a small table first (pgbench cannot hold strings).
// The scripts follow the services' SQL as it is in this repository: when a store's SQL changes,
// change its script here too, or the limit no longer measures the same work.
// A colon followed by a letter or digit inside a string literal would be taken for a pgbench
// variable, so such literals are split ('mobile:' || '197').

// ScriptParams fill the scripts.
type ScriptParams struct {
	FirstDay            string // first customer day, YYYY-MM-DD
	PerDay              int
	Customers           int
	Keywords            int    // rows in the keyword table
	KeywordTable        string // bench_keywords or bench_keywords_short
	PayloadCreated      int    // average outbox payload of customer.created, bytes
	PayloadUpdated      int    // … customer.updated
	PayloadFollowUp     int    // … followup.created
	PayloadLastFollowUp int    // … customer_last_followup.changed
}

// customerIDSQL is the SQL for the id of customer :i (see seed.Layout.CustomerID).
const customerIDSQL = `'CUST-' || to_char(DATE '{{.FirstDay}}' + :i / {{.PerDay}}, 'YYYYMMDD') || '-' || lpad((:i % {{.PerDay}} + 1)::text, 4, '0')`

// columns as store.columns of the customer service.
const customerColumns = `id, name, type, industry, uscc, contact_name, contact_title, mobile, landline, email,
	province, city, district, street, scale, status, source, first_contact_date, owner_id, team_id,
	amount_fen, remarks, consent, status_changed_at, status_changed_by, created_at, created_by,
	updated_at, updated_by, deleted_at, deleted_by, delete_reason, version, level, last_followup_at, merged_into`

// liveI makes :i a live customer like seed.Layout.LiveCustomer.
const liveI = `\set i random(0, {{.Customers}} - 1)
\if :i % 100 = 37
\set i (:i + 1) % {{.Customers}}
\endif
`

var scripts = map[string]string{
	// services/customer/internal/store.Create (+ ids.Allocator once per 100, + outbox.Add): the
	// whole transaction in one pipeline, one round trip, as the service sends it.
	"create": `\set seq :seq + 1
\set mob :run * 10000000 + :client_id * 300000 + :seq
\set blk random(1, 100)
\if :blk = 1
INSERT INTO id_blocks (prefix, day, next_value) VALUES ('PGB', current_date, 101)
  ON CONFLICT (prefix, day) DO UPDATE SET next_value = id_blocks.next_value + 100 RETURNING next_value;
\endif
\startpipeline
BEGIN;
INSERT INTO create_requests (created_by, request_id, request_hash, customer_id)
  VALUES ('u-pgbench', 'pgb-' || :tag::text || '-' || :client_id::text || '-' || :seq::text, sha256(('pgb-' || :seq::text)::text::bytea),
          'PGB-' || :tag::text || '-' || :client_id::text || '-' || :seq::text);
SELECT pg_advisory_xact_lock(hashtextextended(k, 0))
  FROM unnest(ARRAY['name:' || '压测' || :tag::text || '-' || :client_id::text || '-' || :seq::text || '科技',
                    'mobile:' || '197' || lpad(:mob::text, 8, '0')]) AS k ORDER BY k;
SELECT set_config('plan_cache_mode', 'force_generic_plan', true), set_config('enable_seqscan', 'off', true);
SELECT duplicates_block(bool_or(uscc <> '' AND uscc = ''), count(*), false)
  FROM (
    (SELECT id, name, owner_id, uscc, name_key, mobile, email, created_at FROM customers
      WHERE deleted_at IS NULL AND '' <> '' AND uscc <> '' AND uscc = '' LIMIT 10)
    UNION
    (SELECT id, name, owner_id, uscc, name_key, mobile, email, created_at FROM customers
      WHERE deleted_at IS NULL AND name_key <> '' AND name_key = '压测' || :tag::text || '-' || :client_id::text || '-' || :seq::text || '科技' LIMIT 10)
    UNION
    (SELECT id, name, owner_id, uscc, name_key, mobile, email, created_at FROM customers
      WHERE deleted_at IS NULL AND mobile <> '' AND mobile = '197' || lpad(:mob::text, 8, '0') LIMIT 10)
    UNION
    (SELECT id, name, owner_id, uscc, name_key, mobile, email, created_at FROM customers
      WHERE deleted_at IS NULL AND '' <> '' AND email <> '' AND email = '' LIMIT 10)
  ) m;
INSERT INTO customers (` + customerColumns + `, name_key) VALUES (
  'PGB-' || :tag::text || '-' || :client_id::text || '-' || :seq::text, '成都压测' || :tag::text || '-' || :client_id::text || '-' || :seq::text || '科技有限公司',
  'enterprise', 'I65', '', '刘洋', '采购经理', '197' || lpad(:mob::text, 8, '0'),
  '', '', '四川省', '成都市', '高新区', '天府大道100号', '51-200', 'potential', 'exhibition',
  NULL, 'u-pgbench', 'pgbench', NULL, '', NULL, now(), 'u-pgbench', now(), 'u-pgbench', now(), 'u-pgbench',
  NULL, '', '', 1, '', NULL, '', '压测' || :tag::text || '-' || :client_id::text || '-' || :seq::text || '科技');
INSERT INTO outbox (event_id, subject, payload, published_at)
  VALUES (gen_random_uuid(), 'crm.customer.customer.created', convert_to(repeat('x', {{.PayloadCreated}}), 'UTF8'), now());
COMMIT;
\endpipeline
`,
	// store.Get as an admin (no reach condition; deleted customers included).
	"get": `\set i random(0, {{.Customers}} - 1)
SELECT ` + customerColumns + ` FROM customers WHERE id = ` + customerIDSQL + ` AND true;
`,
	// store.List: a team's first page, status and province filters, newest first.
	"list": `\set t random(1, 25)
\set s random(1, 3)
\set p random(1, 10)
SELECT ` + customerColumns + ` FROM customers
  WHERE team_id = 't' || lpad(:t::text, 2, '0') AND deleted_at IS NULL
    AND status = (ARRAY['potential', 'intention', 'active'])[:s]
    AND province = (ARRAY[{{.Provinces}}])[:p]
  ORDER BY created_at DESC, id DESC LIMIT 21;
`,
	// store.Search with ScopeAll: exact matches, then the others, each branch stopping after a
	// page; names and contact names are looked up in the bigram index, mobiles and ids (three
	// characters or more) in their trigram indexes. Run with -M extended: the service plans each
	// search for its keyword (pgx QueryExecModeExec), and so does an unnamed statement.
	"search": `\set k random(1, {{.Keywords}})
SELECT q, needle, short FROM {{.KeywordTable}} WHERE n = :k \gset
\if :short
SELECT ` + customerColumns + `, tier FROM (
  (SELECT *, 2 AS tier FROM customers WHERE deleted_at IS NULL AND true AND (id = upper(:q) OR mobile = :q OR name = :q) AND true
    ORDER BY id DESC LIMIT 21)
  UNION ALL
  (SELECT *, 1 AS tier FROM customers WHERE deleted_at IS NULL AND true AND search_bigrams @> ARRAY[:needle::text COLLATE "C"]
    AND NOT (id = upper(:q) OR mobile = :q OR name = :q) AND true ORDER BY id DESC LIMIT 21)
) m ORDER BY tier DESC, id DESC LIMIT 21;
\else
SELECT ` + customerColumns + `, tier FROM (
  (SELECT *, 2 AS tier FROM customers WHERE deleted_at IS NULL AND true AND (id = upper(:q) OR mobile = :q OR name = :q) AND true
    ORDER BY id DESC LIMIT 21)
  UNION ALL
  (SELECT *, 1 AS tier FROM customers WHERE deleted_at IS NULL AND true
    AND ((search_bigrams @> (keyword_bigrams(:q) COLLATE "C") AND (name ILIKE :needle OR contact_name ILIKE :needle))
      OR mobile LIKE :needle OR id ILIKE :needle)
    AND NOT (id = upper(:q) OR mobile = :q OR name = :q) AND true ORDER BY id DESC LIMIT 21)
) m ORDER BY tier DESC, id DESC LIMIT 21;
\endif
`,
	// store.Update of one field (+ outbox.Add), in the service's two round trips: BEGIN with the
	// locking read, then the update, its event and COMMIT.
	"update": liveI + `\set r random(1, 999999999)
\startpipeline
BEGIN;
SELECT ` + customerColumns + ` FROM customers WHERE id = ` + customerIDSQL + ` AND true AND deleted_at IS NULL FOR UPDATE;
\endpipeline
\startpipeline
UPDATE customers SET remarks = '压测更新 ' || :r, version = version + 1, updated_at = now(), updated_by = 'u-admin'
  WHERE id = ` + customerIDSQL + `;
INSERT INTO outbox (event_id, subject, payload, published_at)
  VALUES (gen_random_uuid(), 'crm.customer.customer.updated', convert_to(repeat('x', {{.PayloadUpdated}}), 'UTF8'), now());
COMMIT;
\endpipeline
`,
	// followup: customerref.Projection.Get (local hit), then store.Create in the service's two
	// pipelines: the record, its event, the lock and look-up of the customer's latest contact
	// time, then that time's event (the record is the latest: now − 1 hour) and COMMIT.
	"followup": liveI + `\set seq :seq + 1
SELECT owner_id, team_id, deleted, merged_into, version FROM customer_refs WHERE customer_id = ` + customerIDSQL + `;
\set blk random(1, 100)
\if :blk = 1
INSERT INTO id_blocks (prefix, day, next_value) VALUES ('PGB', current_date, 101)
  ON CONFLICT (prefix, day) DO UPDATE SET next_value = id_blocks.next_value + 100 RETURNING next_value;
\endif
\startpipeline
BEGIN;
INSERT INTO create_requests (created_by, request_id, request_hash, followup_id)
  VALUES ('u-pgbench', 'pgbf-' || :tag::text || '-' || :client_id::text || '-' || :seq::text, sha256(('pgbf-' || :seq::text)::text::bytea),
          'PGBF' || :tag::text || '-' || :client_id::text || '-' || :seq::text);
INSERT INTO followups (id, customer_id, contact_name, method, contact_time, kind, content, next_action,
    next_action_due, owner_id, done, done_at, done_by, competitor_notes, created_at, created_by,
    updated_at, updated_by, deleted_at, deleted_by, version)
  VALUES ('PGBF' || :tag::text || '-' || :client_id::text || '-' || :seq::text, ` + customerIDSQL + `, '刘洋', 'phone', now() - interval '1 hour', 'need_followup',
    '电话沟通了解采购计划，客户预计下季度启动', '', NULL, 'u-pgbench', false, NULL, '', '', now(), 'u-pgbench',
    now(), 'u-pgbench', NULL, '', 1);
INSERT INTO outbox (event_id, subject, payload, published_at)
  VALUES (gen_random_uuid(), 'crm.followup.followup.created', convert_to(repeat('x', {{.PayloadFollowUp}}), 'UTF8'), now());
INSERT INTO customer_last_followup AS l (customer_id, contact_time, version) VALUES (` + customerIDSQL + `, NULL, 0)
  ON CONFLICT (customer_id) DO UPDATE SET version = l.version RETURNING l.contact_time, l.version;
SELECT max(contact_time) FROM followups WHERE customer_id = ` + customerIDSQL + ` AND deleted_at IS NULL;
\endpipeline
\startpipeline
UPDATE customer_last_followup SET contact_time = now() - interval '1 hour', version = version + 1
  WHERE customer_id = ` + customerIDSQL + `;
INSERT INTO outbox (event_id, subject, payload, published_at)
  VALUES (gen_random_uuid(), 'crm.followup.customer_last_followup.changed', convert_to(repeat('x', {{.PayloadLastFollowUp}}), 'UTF8'), now());
COMMIT;
\endpipeline
`,
	// needs store.Pipeline for a team manager.
	"report": `\set t random(1, 25)
SELECT n.owner_id, n.stage, count(*), coalesce(sum(n.expected_amount_fen), 0)::bigint
  FROM needs n JOIN customer_refs r ON r.customer_id = n.customer_id
  WHERE true AND r.team_id = 't' || lpad(:t::text, 2, '0') AND NOT r.deleted AND n.deleted_at IS NULL
  GROUP BY n.owner_id, n.stage ORDER BY n.owner_id, n.stage;
`,
}

// Vars are the pgbench variables (-D) the scripts expect: a run tag and each client's counter,
// which together make every created id unique, and the run's number in this process (0-9, then
// again), which gives each run of the create script mobiles of its own (eight digits hold the
// run, 32 clients and 300,000 creates each): a mobile an earlier run created makes the duplicate
// check refuse the create, as the service would.
func Vars(tag int64) map[string]string {
	run := (runs.Add(1) - 1) % 10
	return map[string]string{"tag": fmt.Sprint(tag), "seq": "0", "run": fmt.Sprint(run)}
}

// runs counts the calls of Vars.
var runs atomic.Int64

// Script returns the pgbench script of a scenario ("create", "get", "list", "search", "update",
// "followup", "report") filled with p.
func Script(name string, p ScriptParams) (string, error) {
	src, ok := scripts[name]
	if !ok {
		return "", fmt.Errorf("no pgbench script %q", name)
	}
	t, err := template.New(name).Parse(src)
	if err != nil {
		return "", err
	}
	quoted := make([]string, len(ListProvinces))
	for i, p := range ListProvinces {
		quoted[i] = "'" + strings.ReplaceAll(p, "'", "''") + "'"
	}
	var b bytes.Buffer
	err = t.Execute(&b, struct {
		ScriptParams
		Provinces string
	}{p, strings.Join(quoted, ", ")})
	return b.String(), err
}
