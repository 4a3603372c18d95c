package validate

import (
	"slices"
	"testing"
)

func TestMaskPaths(t *testing.T) {
	t.Parallel()
	got := MaskPaths([]string{"ownerId", "owner_id", " address.city ", "estimatedAnnualAmount", "consent.obtainTime", "mobile"})
	want := []string{"owner_id", "owner_id", "address.city", "estimated_annual_amount", "consent.obtain_time", "mobile"}
	if !slices.Equal(got, want) {
		t.Fatalf("MaskPaths = %q, want %q", got, want)
	}
}
