package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/services/tagging/internal/tagging"
)

// ResolveTags finds the live tags each reference names: by id or by folded name, within the
// reference's category when it has one. A reference that names no live tag maps to no ids.
func (s *Store) ResolveTags(ctx context.Context, refs []tagging.TagRef) (map[tagging.TagRef][]string, error) {
	out := make(map[tagging.TagRef][]string, len(refs))
	for _, ref := range refs {
		if _, done := out[ref]; done {
			continue
		}
		rows, err := s.pool.Query(ctx, `SELECT id FROM tags
			WHERE deleted_at IS NULL AND (id = $1 OR name_key = $2) AND ($3 = '' OR category = $3) ORDER BY id`,
			strings.ToUpper(ref.Value), ref.Key(), string(ref.Category))
		if err != nil {
			return nil, fmt.Errorf("resolve tag %q: %w", ref.Value, err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("resolve tag %q: %w", ref.Value, err)
		}
		out[ref] = ids
	}
	return out, nil
}

// attrColumns maps expression attributes to SQL; only these texts ever reach the query. r is
// customer_refs, cs customer_state, a customer_attrs (both LEFT JOINed: a customer without a row
// has no level and empty attributes, so NOT always means the complement).
var attrColumns = map[tagging.Attr]string{
	tagging.AttrLevel:    "COALESCE(cs.level, '')",
	tagging.AttrOwner:    "r.owner_id",
	tagging.AttrTeam:     "r.team_id",
	tagging.AttrType:     "COALESCE(a.type, '')",
	tagging.AttrStatus:   "COALESCE(a.status, '')",
	tagging.AttrProvince: "COALESCE(a.province, '')",
}

// compiler turns an expression into a SQL condition; every value becomes a parameter.
type compiler struct {
	args []any
	tags map[tagging.TagRef][]string
}

func (c *compiler) param(v any) string {
	c.args = append(c.args, v)
	return fmt.Sprintf("$%d", len(c.args))
}

func (c *compiler) compile(e *tagging.Expr) (string, error) {
	switch e.Kind {
	case tagging.KindAnd, tagging.KindOr:
		op := " AND "
		if e.Kind == tagging.KindOr {
			op = " OR "
		}
		parts := make([]string, len(e.Args))
		for i, a := range e.Args {
			p, err := c.compile(a)
			if err != nil {
				return "", err
			}
			parts[i] = p
		}
		return "(" + strings.Join(parts, op) + ")", nil
	case tagging.KindNot:
		p, err := c.compile(e.Args[0])
		if err != nil {
			return "", err
		}
		return "NOT " + p, nil
	case tagging.KindTag:
		ids := c.tags[e.Tag]
		if len(ids) == 0 {
			return "false", nil
		}
		return `EXISTS (SELECT 1 FROM customer_tags ct WHERE ct.customer_id = r.customer_id AND ct.tag_id = ANY(` +
			c.param(ids) + `::text[]))`, nil
	case tagging.KindAttr:
		col, ok := attrColumns[e.Cond.Field]
		if !ok {
			return "", fmt.Errorf("compile expression: unknown attribute %q", e.Cond.Field)
		}
		op := " = "
		if e.Cond.Negate {
			op = " <> "
		}
		return "(" + col + op + c.param(e.Cond.Value) + ")", nil
	}
	return "", fmt.Errorf("compile expression: unknown node kind %d", e.Kind)
}

// SearchInput is one page of customers matching an expression.
type SearchInput struct {
	Expr *tagging.Expr
	// Tags are the expression's tag references resolved to tag ids (ResolveTags).
	Tags     map[tagging.TagRef][]string
	Reach    Reach
	PageSize int
	// After is the last customer id of the previous page.
	After string
}

// Search returns the ids of live customers within reach that match the expression, in id order,
// and the id to continue after ("" on the last page). Pages are keyset based on customer_id.
func (s *Store) Search(ctx context.Context, in SearchInput) ([]string, string, error) {
	c := &compiler{tags: in.Tags}
	cond, err := c.compile(in.Expr)
	if err != nil {
		return nil, "", err
	}
	where := []string{"NOT r.deleted", "r.merged_into = ''", in.Reach.where(&c.args), cond}
	if in.After != "" {
		where = append(where, "r.customer_id > "+c.param(in.After))
	}
	q := `SELECT r.customer_id FROM customer_refs r
		LEFT JOIN customer_state cs ON cs.customer_id = r.customer_id
		LEFT JOIN customer_attrs a ON a.customer_id = r.customer_id
		WHERE ` + strings.Join(where, " AND ") + ` ORDER BY r.customer_id LIMIT ` + c.param(in.PageSize+1)
	rows, err := s.pool.Query(ctx, q, c.args...)
	if err != nil {
		return nil, "", fmt.Errorf("search customers by tags: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, "", fmt.Errorf("search customers by tags: %w", err)
	}
	if len(list) <= in.PageSize {
		return list, "", nil
	}
	list = list[:in.PageSize]
	return list, list[len(list)-1], nil
}
