package need

import (
	"strings"
	"time"

	"github.com/crmsuite/crm/pkg/listquery"
)

// Condition is one `field op value` term of a list filter. Value is canonical: enum values in the
// domain's spelling, customer ids in capitals; Time holds parsed times, and for
// expected_close_date the date at midnight UTC.
type Condition = listquery.Condition

// filterFields are the fields ListNeeds filters on.
var filterFields = map[string]listquery.Field{
	"customer_id":         {Kind: listquery.Text, Canon: func(v string) (string, bool) { return strings.ToUpper(v), true }},
	"owner_id":            {Kind: listquery.Text},
	"team_id":             {Kind: listquery.Text},
	"stage":               {Kind: listquery.Enum, Canon: listquery.EnumCanon("NEED_STAGE_", Stages)},
	"type":                {Kind: listquery.Enum, Canon: listquery.EnumCanon("NEED_TYPE_", Types)},
	"expected_close_date": {Kind: listquery.Date},
	"create_time":         {Kind: listquery.Time},
	"update_time":         {Kind: listquery.Time},
}

// ParseFilter parses a list filter: terms `field op value` joined by AND (an AIP-160 subset).
func ParseFilter(s string) ([]Condition, error) { return listquery.Parse(s, filterFields) }

// Order is a list ordering.
type Order = listquery.Order

// ParseOrder parses order_by: `create_time`, `update_time` or `expected_close_date`, optionally
// followed by ` desc` or ` asc`. The default is create_time desc.
func ParseOrder(s string) (Order, error) {
	return listquery.ParseOrder(s, []string{"create_time", "update_time", "expected_close_date"}, Order{Field: "create_time", Desc: true})
}

// China is the time zone of dates given without one (China Standard Time, no DST since 1991).
func China() *time.Location { return time.FixedZone("CST", 8*3600) }
