package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/services/customer/internal/customer"
)

// Cursor is the position after the last row of a page: the sort value and the id.
type Cursor struct {
	Value string
	ID    string
}

// ListInput selects one page of customers.
type ListInput struct {
	Reach       Reach
	Conditions  []customer.Condition
	Order       customer.Order
	PageSize    int
	After       *Cursor
	ShowDeleted bool
}

// conditionColumns maps filter fields to columns; only these names ever reach the SQL text.
var conditionColumns = map[string]string{
	"type": "type", "status": "status", "source": "source", "scale": "scale", "industry": "industry",
	"owner_id": "owner_id", "team_id": "team_id", "province": "province", "city": "city",
	"create_time": "created_at", "update_time": "updated_at",
}

var orderColumns = map[string]string{"create_time": "created_at", "update_time": "updated_at", "name": "name"}

// List returns one page of customers and the cursor of the next page (nil on the last page).
// Pages are keyset based: (sort column, id) compared with the cursor, never OFFSET.
func (s *Store) List(ctx context.Context, in ListInput) ([]*customer.Customer, *Cursor, error) {
	var args []any
	where := []string{in.Reach.where(&args)}
	if !in.ShowDeleted {
		where = append(where, "deleted_at IS NULL")
	}
	for _, c := range in.Conditions {
		col, ok := conditionColumns[c.Field]
		if !ok {
			return nil, nil, fmt.Errorf("unknown filter field %q", c.Field)
		}
		switch {
		case c.Field == "industry" && len(c.Value) == 1:
			// A section letter matches the section and all its divisions.
			args = append(args, c.Value+"%")
			op := "LIKE"
			if c.Op == "!=" {
				op = "NOT LIKE"
			}
			where = append(where, fmt.Sprintf("%s %s $%d", col, op, len(args)))
		case !c.Time.IsZero():
			args = append(args, c.Time)
			where = append(where, fmt.Sprintf("%s %s $%d", col, sqlOp(c.Op), len(args)))
		default:
			args = append(args, c.Value)
			where = append(where, fmt.Sprintf("%s %s $%d", col, sqlOp(c.Op), len(args)))
		}
	}
	col := orderColumns[in.Order.Field]
	dir, cmp := "ASC", ">"
	if in.Order.Desc {
		dir, cmp = "DESC", "<"
	}
	if in.After != nil {
		var v any = in.After.Value
		if col != "name" {
			t, err := time.Parse(time.RFC3339Nano, in.After.Value)
			if err != nil {
				return nil, nil, fmt.Errorf("cursor time: %w", err)
			}
			v = t
		}
		args = append(args, v, in.After.ID)
		where = append(where, fmt.Sprintf("(%s, id) %s ($%d, $%d)", col, cmp, len(args)-1, len(args)))
	}
	args = append(args, in.PageSize+1)
	q := fmt.Sprintf(`SELECT %s FROM customers WHERE %s ORDER BY %s %s, id %s LIMIT $%d`,
		columns, strings.Join(where, " AND "), col, dir, dir, len(args))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("list customers: %w", err)
	}
	defer rows.Close()
	var out []*customer.Customer
	for rows.Next() {
		c, err := scanCustomer(rows)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("list customers: %w", err)
	}
	if len(out) <= in.PageSize {
		return out, nil, nil
	}
	out = out[:in.PageSize]
	last := out[len(out)-1]
	next := &Cursor{ID: last.ID}
	switch col {
	case "created_at":
		next.Value = last.CreatedAt.Format(time.RFC3339Nano)
	case "updated_at":
		next.Value = last.UpdatedAt.Format(time.RFC3339Nano)
	default:
		next.Value = last.Name
	}
	return out, next, nil
}

func sqlOp(op string) string {
	if op == "!=" {
		return "<>"
	}
	return op
}

// SearchInput is one page of a keyword search.
type SearchInput struct {
	Reach    Reach
	Query    string
	PageSize int
	After    *Cursor
}

// Search finds live customers whose id, name, contact name or mobile contains the keyword: exact
// matches of the id, mobile or name first, then every other match, newest customer first. Names
// and contact names are looked up in the bigram index, mobiles and ids (three characters or
// more) in their trigram indexes.
//
// The two tiers are two branches that each stop after a page, so a common keyword never sorts
// all its matches; the query runs with a plan made for its actual keyword (QueryExecModeExec), as
// a plan for "any pattern" would walk the whole table for a rare one.
func (s *Store) Search(ctx context.Context, in SearchInput) ([]*customer.Customer, *Cursor, error) {
	q, args, err := searchQuery(in)
	if err != nil {
		return nil, nil, err
	}
	rows, err := s.pool.Query(ctx, q, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("search customers: %w", err)
	}
	defer rows.Close()
	var out []*customer.Customer
	var tiers []int
	for rows.Next() {
		var tier int
		c, err := scanCustomer(tierRow{rows, &tier})
		if err != nil {
			return nil, nil, err
		}
		out = append(out, c)
		tiers = append(tiers, tier)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("search customers: %w", err)
	}
	if len(out) <= in.PageSize {
		return out, nil, nil
	}
	out = out[:in.PageSize]
	return out, &Cursor{Value: strconv.Itoa(tiers[in.PageSize-1]), ID: out[in.PageSize-1].ID}, nil
}

// searchQuery is the SQL of one page of a search and its arguments.
func searchQuery(in SearchInput) (string, []any, error) {
	args := []any{in.Query}
	var contains string
	if utf8.RuneCountInString(in.Query) < 3 {
		args = append(args, strings.ToLower(in.Query))
		// COLLATE "C": the bigram index compares its keys bytewise (migration 0005).
		contains = `search_bigrams @> ARRAY[$2::text COLLATE "C"]`
	} else {
		args = append(args, "%"+escapeLike(in.Query)+"%")
		// The bigrams narrow the names and contact names down (and tell the planner how rare the
		// keyword is, migration 0010); ILIKE decides. Mobiles and ids have trigram indexes.
		contains = `((search_bigrams @> (keyword_bigrams($1) COLLATE "C") AND (name ILIKE $2 OR contact_name ILIKE $2))
			OR mobile LIKE $2 OR id ILIKE $2)`
	}
	reach := in.Reach.where(&args)
	exactAfter, containsAfter := "true", "true"
	if in.After != nil {
		tier, err := strconv.Atoi(in.After.Value)
		if err != nil || tier < 1 || tier > 2 {
			return "", nil, fmt.Errorf("cursor tier %q", in.After.Value)
		}
		args = append(args, in.After.ID)
		if tier == 2 {
			exactAfter = fmt.Sprintf("id < $%d", len(args))
		} else {
			exactAfter = "false"
			containsAfter = fmt.Sprintf("id < $%d", len(args))
		}
	}
	args = append(args, in.PageSize+1)
	limit := len(args)
	exact := `(id = upper($1) OR mobile = $1 OR name = $1)`
	q := fmt.Sprintf(`SELECT %[1]s, tier FROM (
		(SELECT *, 2 AS tier FROM customers WHERE deleted_at IS NULL AND %[2]s AND %[3]s AND %[5]s
			ORDER BY id DESC LIMIT $%[7]d)
		UNION ALL
		(SELECT *, 1 AS tier FROM customers WHERE deleted_at IS NULL AND %[2]s AND %[4]s AND NOT %[3]s AND %[6]s
			ORDER BY id DESC LIMIT $%[7]d)
	) m ORDER BY tier DESC, id DESC LIMIT $%[7]d`, columns, reach, exact, contains, exactAfter, containsAfter, limit)
	return q, args, nil
}

// tierRow scans a customer row followed by one extra tier column.
type tierRow struct {
	row pgx.Row
	dst *int
}

func (r tierRow) Scan(dest ...any) error { return r.row.Scan(append(dest, r.dst)...) }

// likeEscaper escapes the LIKE wildcards.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// escapeLike escapes the LIKE wildcards in user input.
func escapeLike(s string) string {
	return likeEscaper.Replace(s)
}
