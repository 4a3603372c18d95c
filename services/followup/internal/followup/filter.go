package followup

import (
	"strings"

	"github.com/crmsuite/crm/pkg/listquery"
)

// Condition is one `field op value` term of a list filter, with its value in canonical form
// (enum values in the domain's spelling, booleans as "true"/"false"); Time holds a parsed contact_time.
type Condition = listquery.Condition

// filterFields are the fields the follow-up lists filter on.
var filterFields = map[string]listquery.Field{
	"method":       {Kind: listquery.Enum, Canon: listquery.EnumCanon("CONTACT_METHOD_", Methods)},
	"kind":         {Kind: listquery.Enum, Canon: listquery.EnumCanon("FOLLOW_UP_KIND_", Kinds)},
	"done":         {Kind: listquery.Bool},
	"owner_id":     {Kind: listquery.Text},
	"customer_id":  {Kind: listquery.Text, Canon: func(v string) (string, bool) { return strings.ToUpper(v), true }},
	"contact_time": {Kind: listquery.Time},
}

// ParseFilter parses a list filter: terms `field op value` joined by AND (an AIP-160 subset), with
// values optionally in double quotes. allowed names the fields this list accepts.
func ParseFilter(s string, allowed ...string) ([]Condition, error) {
	fields := make(map[string]listquery.Field, len(allowed))
	for _, name := range allowed {
		fields[name] = filterFields[name]
	}
	return listquery.Parse(s, fields)
}

// Order is a list ordering.
type Order = listquery.Order

// ParseOrder parses order_by: `contact_time`, `create_time` or `update_time`, optionally followed by
// ` desc` or ` asc`. The default is contact_time desc, newest contact first.
func ParseOrder(s string) (Order, error) {
	return listquery.ParseOrder(s, []string{"contact_time", "create_time", "update_time"}, Order{Field: "contact_time", Desc: true})
}
