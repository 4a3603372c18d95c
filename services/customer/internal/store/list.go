package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

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

// Search finds live customers whose id, name, contact name or mobile contains the keyword, best
// match first: exact id or mobile, then exact name, then name prefix, then any other match,
// ties broken by trigram similarity of the name and then by id. The trigram GIN indexes serve
// the substring matches.
func (s *Store) Search(ctx context.Context, in SearchInput) ([]*customer.Customer, *Cursor, error) {
	pattern := "%" + escapeLike(in.Query) + "%"
	args := []any{in.Query, pattern}
	reach := in.Reach.where(&args)
	after := "true"
	if in.After != nil {
		score, err := strconv.ParseFloat(in.After.Value, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("cursor score: %w", err)
		}
		args = append(args, score, in.After.ID)
		after = fmt.Sprintf("(score, id) < ($%d, $%d)", len(args)-1, len(args))
	}
	args = append(args, in.PageSize+1)
	q := fmt.Sprintf(`SELECT %s, score FROM (
		SELECT *, (CASE WHEN upper(id) = upper($1) OR mobile = $1 THEN 4
		                WHEN name = $1 THEN 3
		                WHEN name LIKE $2 AND position($1 in name) = 1 THEN 2
		                ELSE 1 END)::float8 + public.similarity(name, $1)::float8 AS score
		FROM customers
		WHERE deleted_at IS NULL AND %s
		  AND (name ILIKE $2 OR contact_name ILIKE $2 OR mobile LIKE $2 OR id ILIKE $2)
	) m WHERE %s ORDER BY score DESC, id DESC LIMIT $%d`, columns, reach, after, len(args))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("search customers: %w", err)
	}
	defer rows.Close()
	var out []*customer.Customer
	var scores []float64
	for rows.Next() {
		var score float64
		c, err := scanCustomer(scoreRow{rows, &score})
		if err != nil {
			return nil, nil, err
		}
		out = append(out, c)
		scores = append(scores, score)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("search customers: %w", err)
	}
	if len(out) <= in.PageSize {
		return out, nil, nil
	}
	out = out[:in.PageSize]
	return out, &Cursor{Value: strconv.FormatFloat(scores[in.PageSize-1], 'g', -1, 64), ID: out[in.PageSize-1].ID}, nil
}

// scoreRow scans a customer row followed by one extra score column.
type scoreRow struct {
	row pgx.Row
	dst *float64
}

func (r scoreRow) Scan(dest ...any) error { return r.row.Scan(append(dest, r.dst)...) }

// escapeLike escapes the LIKE wildcards in user input.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
