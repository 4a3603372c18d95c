package listquery_test

import (
	"errors"
	"testing"

	"github.com/crmsuite/crm/pkg/listquery"
	"github.com/crmsuite/crm/pkg/validate"
)

type cursor struct{ Value, ID string }

func TestPageTokens(t *testing.T) {
	t.Parallel()
	q := listquery.Fingerprint("customers", "u-sales1", `province = "浙江"`)
	if q == listquery.Fingerprint("customers", "u-sales2", `province = "浙江"`) {
		t.Fatal("fingerprints of different callers are equal")
	}
	tok := listquery.EncodeToken(&cursor{Value: "2026-11-23T10:00:00Z", ID: "CUST-1"}, q)
	got, err := listquery.DecodeToken[cursor](tok, q)
	if err != nil || got == nil || *got != (cursor{Value: "2026-11-23T10:00:00Z", ID: "CUST-1"}) {
		t.Fatalf("round trip: %v %v", got, err)
	}
	if tok := listquery.EncodeToken[cursor](nil, q); tok != "" {
		t.Fatalf("last page token %q", tok)
	}
	if c, err := listquery.DecodeToken[cursor]("", q); c != nil || err != nil {
		t.Fatalf("first page: %v %v", c, err)
	}
	for _, bad := range []string{"%%%", "bm90IGpzb24", listquery.EncodeToken(&cursor{ID: "x"}, "another query")} {
		var ve *validate.Error
		if _, err := listquery.DecodeToken[cursor](bad, q); !errors.As(err, &ve) || ve.Violations[0].Field != "page_token" {
			t.Errorf("token %q: %v", bad, err)
		}
	}
}

func TestPageSize(t *testing.T) {
	t.Parallel()
	for n, want := range map[int32]int{0: 50, 1: 1, 200: 200} {
		if got, err := listquery.PageSize(n, 50, 200); err != nil || got != want {
			t.Errorf("PageSize(%d) = %d, %v", n, got, err)
		}
	}
	for _, n := range []int32{-1, 201} {
		var ve *validate.Error
		if _, err := listquery.PageSize(n, 50, 200); !errors.As(err, &ve) || ve.Violations[0].Field != "page_size" {
			t.Errorf("PageSize(%d): %v", n, err)
		}
	}
}
