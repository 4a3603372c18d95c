package seed

import (
	"strings"
	"testing"
	"time"

	"github.com/crmsuite/crm/pkg/validate"
)

var testLayout = NewLayout(1_000_000, time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))

// TestRowsAreValidCustomers checks a sample of rows against the rules the customer service
// enforces on its input, so that the seeded data looks like data the API could have written.
func TestRowsAreValidCustomers(t *testing.T) {
	t.Parallel()
	for i := 0; i < testLayout.Customers; i += 997 {
		c := testLayout.CustomerRow(i)
		if m, ok := validate.Mobile(c.Mobile); !ok || m != c.Mobile {
			t.Fatalf("row %d: mobile %q", i, c.Mobile)
		}
		if p, ok := validate.Province(c.Province); !ok || p != c.Province {
			t.Fatalf("row %d: province %q is not canonical", i, c.Province)
		}
		if c.USCC != "" {
			if _, ok, _ := validate.USCC(c.USCC); !ok {
				t.Fatalf("row %d: USCC %q", i, c.USCC)
			}
		}
		if c.Industry != "" {
			if _, ok := validate.LookupIndustry(c.Industry); !ok {
				t.Fatalf("row %d: industry %q", i, c.Industry)
			}
		}
		if c.Landline != "" {
			if _, ok := validate.Landline(c.Landline); !ok {
				t.Fatalf("row %d: landline %q", i, c.Landline)
			}
		}
		if c.Email != "" {
			if _, ok := validate.Email(c.Email); !ok {
				t.Fatalf("row %d: email %q", i, c.Email)
			}
		}
		if validate.PlaceholderName(c.Name) || c.NameKey != validate.NormaliseName(c.Name) || c.Name == "" || c.ContactName == "" {
			t.Fatalf("row %d: name %q (key %q), contact %q", i, c.Name, c.NameKey, c.ContactName)
		}
		if (c.Type == "individual") != strings.HasPrefix(c.Scale, "individual") {
			t.Fatalf("row %d: type %s with scale %s", i, c.Type, c.Scale)
		}
		if c.AmountFen != nil && c.Status != "intention" && c.Status != "active" {
			t.Fatalf("row %d: amount for status %s", i, c.Status)
		}
		if (c.DeletedAt != nil) != Deleted(i) {
			t.Fatalf("row %d: deleted %v", i, c.DeletedAt)
		}
	}
}

func TestIDsAreUniqueAndInDayOrder(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool, testLayout.Customers)
	mobiles := make(map[string]bool, testLayout.Customers)
	prev := time.Time{}
	for i := range testLayout.Customers {
		c := testLayout.CustomerRow(i)
		if seen[c.ID] || mobiles[c.Mobile] {
			t.Fatalf("row %d: id %s or mobile %s repeats", i, c.ID, c.Mobile)
		}
		seen[c.ID], mobiles[c.Mobile] = true, true
		if c.CreatedAt.Before(prev) {
			t.Fatalf("row %d created before row %d", i, i-1)
		}
		prev = c.CreatedAt
		// The id's day is the China calendar day of its creation.
		if day := c.CreatedAt.In(china).Format("20060102"); !strings.Contains(c.ID, "-"+day+"-") {
			t.Fatalf("row %d: id %s created %s", i, c.ID, c.CreatedAt.In(china))
		}
		if strings.HasPrefix(c.Mobile, "196") || strings.HasPrefix(c.Mobile, "195") || strings.HasPrefix(c.Mobile, "197") {
			t.Fatalf("row %d: mobile %s uses a prefix the scenarios reserve", i, c.Mobile)
		}
	}
	last := testLayout.CustomerRow(testLayout.Customers - 1).CreatedAt.In(china)
	if !last.Before(time.Date(2026, 11, 23, 0, 0, 0, 0, china)) {
		t.Fatalf("last customer %s is not before the seed day", last)
	}
}

func TestRowsAreStable(t *testing.T) {
	t.Parallel()
	a, b := testLayout.CustomerRow(123456), testLayout.CustomerRow(123456)
	if a.Name != b.Name || a.Mobile != b.Mobile || a.OwnerID != b.OwnerID || a.ID != "CUST-20240407-0067" {
		t.Fatalf("row 123456 is %+v / %+v", a, b)
	}
	n := testLayout.NeedRow(5, 200_000)
	f := testLayout.FollowUpRow(5, 200_000)
	for _, id := range []string{n.CustomerID, f.CustomerID} {
		if !strings.HasPrefix(id, "CUST-") {
			t.Fatalf("need/follow-up customer %q", id)
		}
	}
	if n.Stage == "lost" && n.LostReason == "" {
		t.Fatal("lost need without a reason")
	}
}
