package customer

import (
	"fmt"
	"testing"
)

func TestSamePrintAgreesWithSprint(t *testing.T) {
	t.Parallel()
	values := []any{nil, "", "a", "<nil>", "杭州", map[string]any{"purpose": "x"}, map[string]any{"purpose": "y"}}
	for _, b := range values {
		for _, a := range values {
			if got, want := samePrint(b, a), fmt.Sprint(b) == fmt.Sprint(a); got != want {
				t.Errorf("samePrint(%#v, %#v) = %v, fmt.Sprint says %v", b, a, got, want)
			}
		}
	}
}
