package export

import (
	"context"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
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
	st := status.Convert(upstreamError(up))
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code %v", st.Code())
	}
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	if len(fields) != 2 || fields[0] != "customer_filter" || fields[1] != "reveal_pii" {
		t.Fatalf("fields %v", fields)
	}
	other := status.Error(codes.Unavailable, "down")
	if got := upstreamError(other); got != other {
		t.Fatalf("%v changed", got)
	}
}
