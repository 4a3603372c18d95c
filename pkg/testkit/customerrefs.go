package testkit

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/crmsuite/crm/pkg/apierr"
	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/validate"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
)

// CustomerRefs stands in for the customer service's StreamCustomerRefs at the edge of the tests of
// the services that export records of customers (pkg/export). It serves Customers in their order,
// one a page, to the caller its bearer token names, by the customer export's rules: admins every
// customer, managers their team's, sales reps their own, other roles none (PERMISSION_DENIED).
// It understands no filter but `owner_id = "…"`; any other is a violation of `filter`, as the
// customer service reports a bad filter.
type CustomerRefs struct {
	customerv1.UnimplementedCustomerTransferServiceServer
	Verifier  *authn.Verifier
	Customers []*customerv1.Customer
}

// StreamCustomerRefs implements customerv1.CustomerTransferServiceServer.
func (f *CustomerRefs) StreamCustomerRefs(req *customerv1.StreamCustomerRefsRequest, stream grpc.ServerStreamingServer[customerv1.CustomerRefPage]) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	var token string
	if v := md.Get("authorization"); len(v) > 0 {
		token = strings.TrimPrefix(v[0], "Bearer ")
	}
	p, err := f.Verifier.Verify(token)
	if err != nil {
		return status.Error(codes.Unauthenticated, "no valid token was forwarded")
	}
	owner, byOwner := strings.CutPrefix(req.GetFilter(), "owner_id = ")
	if req.GetFilter() != "" && !byOwner {
		return apierr.Status(stream.Context(), "customer.crm", &validate.Error{Violations: []validate.Violation{{Field: "filter",
			Reason: validate.ReasonInvalidFormat, Message: validate.Message{ZH: "筛选条件无效", EN: "the filter is invalid"}}}}).Err()
	}
	for _, c := range f.Customers {
		switch {
		case p.Has(authn.RoleAdmin):
		case p.Has(authn.RoleManager):
			if c.GetTeamId() != p.Team {
				continue
			}
		case p.Has(authn.RoleSales):
			if c.GetOwnerId() != p.UserID {
				continue
			}
		default:
			return status.Error(codes.PermissionDenied, "only admins, managers and sales reps export")
		}
		if byOwner && c.GetOwnerId() != strings.Trim(owner, `"`) {
			continue
		}
		page := &customerv1.CustomerRefPage{Customers: []*customerv1.CustomerRef{{CustomerId: c.GetCustomerId(), Name: c.GetName()}}}
		if err := stream.Send(page); err != nil {
			return err
		}
	}
	return nil
}

// Download collects a file streamed as FileChunk messages: its name, content type and bytes.
func Download(stream interface {
	Recv() (*customerv1.FileChunk, error)
}, err error) (name, contentType string, data []byte, _ error) {
	if err != nil {
		return "", "", nil, err
	}
	for {
		ch, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return name, contentType, data, nil
		}
		if err != nil {
			return "", "", nil, err
		}
		if ch.GetFileName() != "" {
			name, contentType = ch.GetFileName(), ch.GetContentType()
		}
		data = append(data, ch.GetData()...)
	}
}

// CSVRows reads an exported CSV file (UTF-8 with a byte-order mark, as the exports write it) as
// one header → cell map per row.
func CSVRows(tb testing.TB, data []byte) []map[string]string {
	tb.Helper()
	body, ok := bytes.CutPrefix(data, []byte{0xEF, 0xBB, 0xBF})
	if !ok {
		tb.Fatalf("no byte-order mark: %.40q", data)
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		tb.Fatal(err)
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := make(map[string]string, len(r))
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}
