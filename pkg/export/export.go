// Package export streams the records a service keeps about customers (follow-ups, needs,
// feedback) as a CSV or XLSX file, for the customers a customer filter selects: the same
// customers, in the same order, as the caller's customer export with that filter. The customer
// service decides which customers those are (CustomerTransferService.StreamCustomerRefs, called
// with the caller's own token, so its scope rules apply unchanged); the service writes its records
// of each page of customers and audits the export through its outbox, like the customer export.
package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/crmsuite/crm/pkg/apierr"
	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/authz"
	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/outbox"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/sheet"
	"github.com/crmsuite/crm/pkg/validate"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
)

// Exporters may export (SPEC §9, "reports, export"): admins everything, managers their team's
// customers, sales reps their own; service agents and executives do not export.
var Exporters = map[authn.Role]authz.Scope{authn.RoleAdmin: authz.ScopeAll, authn.RoleManager: authz.ScopeTeam, authn.RoleSales: authz.ScopeOwn}

// Column is one column of an export: its header in Chinese and in English.
type Column struct{ ZH, EN string }

// Spec describes one kind of export.
type Spec struct {
	// Source is the service's event source (its schema), e.g. "followup".
	Source string
	// Entity is the entity type of the export's audit event, e.g. "followup_export".
	Entity string
	// FileZH and FileEN start the file's name: 跟进记录导出-20261123-150405.csv.
	FileZH, FileEN string
	// SheetZH and SheetEN name the XLSX sheet.
	SheetZH, SheetEN string
	Columns          []Column
	// Numeric are the indexes of columns XLSX writes as numbers (amounts), so that they can be summed.
	Numeric []int
}

// Request is what every such export accepts.
type Request struct {
	Format         customerv1.FileFormat
	CustomerFilter string
	RevealPII      bool
}

// Page is one page of customers whose records are to be written.
type Page struct {
	// IDs are the customers, in the order of the export.
	IDs []string
	// Names maps each customer id to its name (an individual's masked when Mask is set).
	Names map[string]string
	// Mask says personal information must be masked.
	Mask bool
	// English says labels are to be written in English rather than Chinese.
	English bool
}

// RowsFunc writes, through write, one row for each record of the page's customers, customer by
// customer in the page's order. write keeps nothing of the row after it returns.
type RowsFunc func(ctx context.Context, page Page, write func(row []string) error) error

// Exporter runs exports for one service.
type Exporter struct {
	Pool      *pgxpool.Pool
	Customers customerv1.CustomerTransferServiceClient
	Log       *slog.Logger
}

// Stream checks the request, then streams the file through send: a first chunk with the file's
// name and type, then its bytes. The export is audited however it ends, with who, which filter,
// whether it was masked, how many rows were written and whether it completed.
func (e *Exporter) Stream(ctx context.Context, spec Spec, req Request, rows RowsFunc, send func(*customerv1.FileChunk) error) error {
	p, _ := authn.FromContext(ctx)
	var v validate.Collector
	format := sheet.CSV
	switch req.Format {
	case customerv1.FileFormat_FILE_FORMAT_UNSPECIFIED, customerv1.FileFormat_FILE_FORMAT_CSV:
	case customerv1.FileFormat_FILE_FORMAT_XLSX:
		format = sheet.XLSX
	default:
		v.Add("format", validate.ReasonUnknownCode, validate.Message{ZH: "导出格式只能是 CSV 或 XLSX", EN: "format must be CSV or XLSX"})
	}
	if req.RevealPII && !p.Has(authn.RoleAdmin) {
		v.Add("reveal_pii", validate.ReasonNotAllowed, validate.Message{ZH: "只有管理员可以导出未脱敏的个人信息", EN: "only admins may export personal information unmasked"})
	}
	if err := v.Err(); err != nil {
		return err
	}

	// The customer service checks the filter; its first answer comes before any byte of the file,
	// so that a bad filter is an error rather than a broken download.
	refs, err := e.Customers.StreamCustomerRefs(forward(ctx), &customerv1.StreamCustomerRefsRequest{
		Filter: req.CustomerFilter, RevealPii: req.RevealPII})
	if err != nil {
		return upstreamError(err)
	}
	page, err := refs.Recv()
	if err != nil && !errors.Is(err, io.EOF) {
		return upstreamError(err)
	}

	english := English(ctx)
	stamp := time.Now().In(time.FixedZone("CST", 8*3600)).Format("20060102-150405")
	name, sheetName := spec.FileZH+"-"+stamp+"."+string(format), spec.SheetZH
	if english {
		name, sheetName = spec.FileEN+"-"+stamp+"."+string(format), spec.SheetEN
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	rec := map[string]any{"format": string(format), "customer_filter": req.CustomerFilter, "masked": !req.RevealPII,
		"file_name": name, "row_count": 0, "completed": false}
	defer func() {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := e.audit(actx, spec, id.String(), &commonv1.Actor{UserId: p.UserID, Role: string(p.MainRole()), TeamId: p.Team}, rec); err != nil {
			e.Log.Error("audit export", "export_id", id.String(), "err", err)
		}
	}()

	if err := send(&customerv1.FileChunk{FileName: name, ContentType: sheet.ContentType(format)}); err != nil {
		return err
	}
	out := sheet.NewChunkWriter(func(b []byte) error { return send(&customerv1.FileChunk{Data: b}) })
	w, err := sheet.NewWriter(out, format, sheetName, spec.Numeric...)
	if err != nil {
		return err
	}
	header := make([]string, len(spec.Columns))
	for i, c := range spec.Columns {
		header[i] = c.ZH
		if english {
			header[i] = c.EN
		}
	}
	if err := w.Write(header); err != nil {
		return err
	}
	n := 0
	write := func(row []string) error {
		n++
		return w.Write(row)
	}
	for page != nil {
		pg := Page{IDs: make([]string, len(page.GetCustomers())), Names: make(map[string]string, len(page.GetCustomers())),
			Mask: !req.RevealPII, English: english}
		for i, c := range page.GetCustomers() {
			pg.IDs[i] = c.GetCustomerId()
			pg.Names[c.GetCustomerId()] = c.GetName()
		}
		if err := rows(ctx, pg, write); err != nil {
			rec["row_count"] = n
			return err
		}
		if page, err = refs.Recv(); errors.Is(err, io.EOF) {
			page = nil
		} else if err != nil {
			rec["row_count"] = n
			return upstreamError(err)
		}
	}
	rec["row_count"] = n
	if err := w.Close(); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return err
	}
	rec["completed"] = true
	return nil
}

// English reports whether the caller asked for English (Accept-Language); Chinese otherwise.
func English(ctx context.Context) bool { return strings.HasPrefix(apierr.Lang(ctx), "en") }

// audit records the export as a <entity>.exported event through the outbox.
func (e *Exporter) audit(ctx context.Context, spec Spec, id string, actor *commonv1.Actor, fields map[string]any) error {
	data, err := structpb.NewStruct(fields)
	if err != nil {
		return fmt.Errorf("event data: %w", err)
	}
	var changes []*commonv1.FieldChange
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		fc, err := events.Change(k, nil, fields[k])
		if err != nil {
			return fmt.Errorf("event change %s: %w", k, err)
		}
		changes = append(changes, fc)
	}
	ev, err := events.New(ctx, spec.Source, spec.Entity, "exported", id, actor, 1, data, changes)
	if err != nil {
		return fmt.Errorf("build event: %w", err)
	}
	return pgdb.InTx(ctx, e.Pool, func(tx pgx.Tx) error { return outbox.Add(ctx, tx, ev) })
}

// forward passes the caller's token and language on to the customer service.
func forward(ctx context.Context) context.Context {
	ctx = authn.ForwardToken(ctx)
	in, _ := metadata.FromIncomingContext(ctx)
	if lang := in.Get("accept-language"); len(lang) > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, "accept-language", lang[0])
	}
	return ctx
}

// upstreamError returns the customer service's error as this service's: a complaint about its
// `filter` is about this request's `customer_filter`. Violations are rebuilt rather than passed on,
// so that the summary this service writes names the right field; their text is already in the
// caller's language (forward passes Accept-Language on).
func upstreamError(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		return err
	}
	var v validate.Collector
	for _, d := range st.Details() {
		br, ok := d.(*errdetails.BadRequest)
		if !ok {
			continue
		}
		for _, fv := range br.GetFieldViolations() {
			field := fv.GetField()
			if field == "filter" {
				field = "customer_filter"
			}
			text := fv.GetLocalizedMessage().GetMessage()
			if text == "" {
				text = fv.GetDescription()
			}
			v.Add(field, fv.GetReason(), validate.Message{ZH: text, EN: text})
		}
	}
	if v.Len() == 0 {
		return err
	}
	return v.Err()
}
