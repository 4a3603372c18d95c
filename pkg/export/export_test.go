package export

import (
	"context"
	"errors"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crmsuite/crm/pkg/apierr"
	"github.com/crmsuite/crm/pkg/validate"
)

func TestUpstreamFilterErrorNamesCustomerFilter(t *testing.T) {
	t.Parallel()
	up := apierr.Status(context.Background(), "customer.crm", &validate.Error{Violations: []validate.Violation{
		{Field: "filter", Reason: validate.ReasonInvalidFormat, Message: validate.Message{ZH: "筛选条件无效", EN: "bad filter"}},
		{Field: "reveal_pii", Reason: validate.ReasonNotAllowed, Message: validate.Message{ZH: "不允许", EN: "not allowed"}},
	}}).Err()
	var ve *validate.Error
	if !errors.As(upstreamError(up), &ve) {
		t.Fatalf("not a validation error: %v", upstreamError(up))
	}
	var got []validate.Violation
	got = append(got, ve.Violations...)
	want := []validate.Violation{
		{Field: "customer_filter", Reason: validate.ReasonInvalidFormat, Message: validate.Message{ZH: "筛选条件无效", EN: "筛选条件无效"}},
		{Field: "reveal_pii", Reason: validate.ReasonNotAllowed, Message: validate.Message{ZH: "不允许", EN: "不允许"}},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("violations %+v, want %+v", got, want)
	}
	other := status.Error(codes.Unavailable, "down")
	if got := upstreamError(other); got != other {
		t.Fatalf("%v changed", got)
	}
}
