package scenario

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/deploy/bench/internal/seed"
)

// Keyword is one search the keyword scenario sends.
type Keyword struct {
	Query string
	Kind  string
}

// KeywordMix describes the keyword scenario's searches, for the report.
const KeywordMix = "40% a company's trade name and line of business (星辰科技, 4–6 characters), " +
	"20% a full company name, 20% a contact's full name (2–3 characters), 10% a full mobile number, " +
	"10% the first 7 digits of a mobile; each taken from a random seeded customer"

// Keywords returns n searches in the KeywordMix, drawn from the seeded customers.
func Keywords(l seed.Layout, n int) []Keyword {
	out := make([]Keyword, 0, n)
	for j := 0; len(out) < n; j++ {
		i := int(mixIndex(uint64(j), 8) % uint64(l.Customers))
		c := l.CustomerRow(i)
		switch k := len(out) % 10; {
		case k < 4:
			if !strings.HasSuffix(c.Name, "公司") { // individuals and institutions have no trade name
				continue
			}
			out = append(out, Keyword{seed.Brand(i) + seed.Trade(i), "trade name"})
		case k < 6:
			out = append(out, Keyword{c.Name, "full name"})
		case k < 8:
			out = append(out, Keyword{c.ContactName, "contact"})
		case k < 9:
			out = append(out, Keyword{c.Mobile, "mobile"})
		default:
			out = append(out, Keyword{c.Mobile[:7], "mobile prefix"})
		}
	}
	return out
}

// ShortKeywords returns n two-character searches: a company's trade name alone (星辰), the
// shortest query the service accepts and a common one in Chinese.
func ShortKeywords(l seed.Layout, n int) []Keyword {
	out := make([]Keyword, 0, n)
	for j := 0; len(out) < n; j++ {
		i := int(mixIndex(uint64(j), 9) % uint64(l.Customers))
		out = append(out, Keyword{seed.Brand(i), "2-character trade name"})
	}
	return out
}

// StoreKeywords writes keywords into public.<table>(n, q, needle, short), numbered from 1, for the
// pgbench script of the same searches: needle is what the customer service searches with (the
// lower-cased keyword for the bigram index when it has fewer than three characters, short = 1,
// else the LIKE pattern).
func StoreKeywords(ctx context.Context, conn *pgx.Conn, table string, kws []Keyword) error {
	t := pgx.Identifier{"public", table}.Sanitize()
	if _, err := conn.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS %s; CREATE TABLE %s (n int PRIMARY KEY, q text NOT NULL, needle text NOT NULL, short int NOT NULL)`, t, t)); err != nil {
		return fmt.Errorf("keyword table: %w", err)
	}
	rows := make([][]any, len(kws))
	for i, k := range kws {
		needle, short := "%"+k.Query+"%", int32(0)
		if utf8.RuneCountInString(k.Query) < 3 {
			needle, short = strings.ToLower(k.Query), 1
		}
		rows[i] = []any{int32(i + 1), k.Query, needle, short}
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"public", table}, []string{"n", "q", "needle", "short"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("keyword table: %w", err)
	}
	_, err := conn.Exec(ctx, "ANALYZE "+t)
	return err
}
