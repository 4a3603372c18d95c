package gateway

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crmsuite/crm/pkg/apierr"
	"github.com/crmsuite/crm/pkg/validate"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	feedbackv1 "github.com/crmsuite/crm/proto/gen/go/crm/feedback/v1"
	followupv1 "github.com/crmsuite/crm/proto/gen/go/crm/followup/v1"
	needsv1 "github.com/crmsuite/crm/proto/gen/go/crm/needs/v1"
)

// DefaultMaxUploadBytes bounds an import file (GATEWAY_MAX_UPLOAD_BYTES): 100 MiB.
const DefaultMaxUploadBytes = 100 << 20

// Time limits of the file routes, instead of the JSON routes' RequestTimeout and the server's
// read and write timeouts, which are far too short for a large upload or a million-row export.
const (
	uploadTimeout   = 15 * time.Minute
	downloadTimeout = time.Hour
	uploadPiece     = 256 << 10
)

// Routes of the customer service's file transfers. The generated handlers cannot serve them: an
// upload is a plain file body streamed to a client-streaming RPC, a download a server stream
// written as a file.
const (
	routeImport = "/v1/customers:import"
	routeExport = "/v1/customers:export"
	routeIssues = "/v1/importJobs/{import_job_id}/errors.csv"
)

// registerTransfer registers the generated REST bindings of CustomerTransferService (job status,
// issues, undo) on the customer service's connection.
func (g *Gateway) registerTransfer(ctx context.Context) error {
	conn := g.conn("customer")
	if conn == nil {
		return nil
	}
	return customerv1.RegisterCustomerTransferServiceHandler(ctx, g.mux, conn)
}

// conn returns the connection of an upstream, nil when it is not configured.
func (g *Gateway) conn(name string) *grpc.ClientConn {
	for _, c := range g.conns {
		if c.name == name {
			return c.conn
		}
	}
	return nil
}

// transferRoutes serves the file routes and passes everything else to next. It sits outside the
// body limit and timeout of the JSON routes and applies its own.
func (g *Gateway) transferRoutes(next http.Handler) http.Handler {
	conn := g.conn("customer")
	if conn == nil {
		return next
	}
	t := &transfers{g: g, client: customerv1.NewCustomerTransferServiceClient(conn), maxUpload: g.cfg.MaxUploadBytes}
	if t.maxUpload <= 0 {
		t.maxUpload = DefaultMaxUploadBytes
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+routeImport, withRoute(routeImport, http.HandlerFunc(t.upload)))
	mux.Handle("GET "+routeExport, withRoute(routeExport, http.HandlerFunc(t.export)))
	mux.Handle("GET "+routeIssues, withRoute(routeIssues, http.HandlerFunc(t.issues)))
	for _, re := range recordExports {
		if c := g.conn(re.upstream); c != nil {
			b := boundExport{recordExport: re, conn: c}
			t.records = append(t.records, b)
			mux.Handle("GET "+re.route, withRoute(re.route, t.recordExportHandler(b)))
		}
	}
	mux.Handle("/", next)
	return mux
}

type transfers struct {
	g         *Gateway
	client    customerv1.CustomerTransferServiceClient
	maxUpload int64
	// records are the record exports whose service is configured.
	records []boundExport
}

// annotate forwards the request's headers (Authorization, Accept-Language, X-Request-Id and the
// trace context) as the generated handlers do. method is a CustomerTransferService method or a
// full method name.
func (t *transfers) annotate(ctx context.Context, r *http.Request, method, route string) (context.Context, error) {
	if !strings.HasPrefix(method, "/") {
		method = "/crm.customer.v1.CustomerTransferService/" + method
	}
	return runtime.AnnotateContext(ctx, t.g.mux, r, method, runtime.WithHTTPPathPattern(route))
}

// fail answers with a gRPC error the way the generated handlers do.
func (t *transfers) fail(w http.ResponseWriter, r *http.Request, err error) {
	_, out := runtime.MarshalerForRequest(t.g.mux, r)
	runtime.HTTPError(r.Context(), t.g.mux, out, w, r, err)
}

func badParam(field, zh, en string) error {
	return &validate.Error{Violations: []validate.Violation{{Field: field, Reason: validate.ReasonInvalidFormat, Message: validate.Message{ZH: zh, EN: en}}}}
}

func (t *transfers) tooLarge(w http.ResponseWriter, r *http.Request) {
	mib := strconv.FormatInt(t.maxUpload>>20, 10)
	t.g.writeError(w, r, http.StatusRequestEntityTooLarge, apierr.New(codes.InvalidArgument, "FILE_TOO_LARGE", apierr.Message{
		ZH: "文件超过大小上限（" + mib + " MiB），请拆分后分批导入", EN: "the file is larger than the limit (" + mib + " MiB); split it and import the parts"}).
		With("max_bytes", strconv.FormatInt(t.maxUpload, 10)))
}

// param returns the first non-empty query parameter of the given spellings (camelCase, snake_case).
func param(r *http.Request, names ...string) string {
	q := r.URL.Query()
	for _, n := range names {
		if v := q.Get(n); v != "" {
			return v
		}
	}
	return ""
}

func parseMode(s string) (customerv1.ImportMode, bool) {
	switch strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(strings.ToUpper(s), "IMPORT_MODE_"), "_", "")) {
	case "":
		return customerv1.ImportMode_IMPORT_MODE_UNSPECIFIED, true
	case "dryrun":
		return customerv1.ImportMode_IMPORT_MODE_DRY_RUN, true
	case "allornothing":
		return customerv1.ImportMode_IMPORT_MODE_ALL_OR_NOTHING, true
	case "validonly":
		return customerv1.ImportMode_IMPORT_MODE_VALID_ONLY, true
	}
	return 0, false
}

func parseFormat(s string) (customerv1.FileFormat, bool) {
	switch strings.ToLower(strings.TrimPrefix(strings.ToUpper(s), "FILE_FORMAT_")) {
	case "", "auto", "unspecified":
		return customerv1.FileFormat_FILE_FORMAT_UNSPECIFIED, true
	case "csv":
		return customerv1.FileFormat_FILE_FORMAT_CSV, true
	case "xlsx":
		return customerv1.FileFormat_FILE_FORMAT_XLSX, true
	}
	return 0, false
}

// setOption applies one upload option given as a query parameter or multipart form field.
func setOption(o *customerv1.ImportOptions, name, value string) error {
	switch name {
	case "mode":
		m, ok := parseMode(value)
		if !ok {
			return badParam("mode", "mode 只能是 dry_run、all_or_nothing 或 valid_only", "mode must be dry_run, all_or_nothing or valid_only")
		}
		o.Mode = m
	case "format":
		f, ok := parseFormat(value)
		if !ok {
			return badParam("format", "format 只能是 auto、csv 或 xlsx", "format must be auto, csv or xlsx")
		}
		o.Format = f
	case "fileName", "file_name":
		o.FileName = value
	case "mapping", "columnMapping", "column_mapping":
		if value == "" {
			return nil
		}
		if err := json.Unmarshal([]byte(value), &o.ColumnMapping); err != nil {
			return badParam("mapping", `mapping 应为 JSON 对象，如 {"公司":"name"}`, `mapping must be a JSON object such as {"Company":"name"}`)
		}
	case "defaultOwnerId", "default_owner_id":
		o.DefaultOwnerId = value
	case "defaultTeamId", "default_team_id":
		o.DefaultTeamId = value
	case "sheet":
		o.Sheet = value
	case "waitSeconds", "wait_seconds":
		if value == "" {
			return nil
		}
		n, err := strconv.Atoi(value)
		if err != nil {
			return badParam("waitSeconds", "waitSeconds 应为整数", "waitSeconds must be an integer")
		}
		o.WaitSeconds = int32(n)
	}
	return nil
}

// optionNames are the upload options a query or a multipart form may carry.
var optionNames = []string{"mode", "format", "fileName", "file_name", "mapping", "columnMapping", "column_mapping",
	"defaultOwnerId", "default_owner_id", "defaultTeamId", "default_team_id", "sheet", "waitSeconds", "wait_seconds"}

// upload serves POST /v1/customers:import: the file is the request body, raw (text/csv, the XLSX
// media type, application/octet-stream) or the part "file" of a multipart form. Options come as
// query parameters (mode, format, fileName, mapping, defaultOwnerId, defaultTeamId, sheet,
// waitSeconds) or as form fields before the file. The body is streamed to ImportCustomers in
// pieces; a body over the limit is answered with 413, at once when Content-Length says so.
func (t *transfers) upload(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > t.maxUpload {
		t.tooLarge(w, r)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(uploadTimeout))
	_ = rc.SetWriteDeadline(time.Now().Add(uploadTimeout + time.Minute))
	ctx, cancel := context.WithTimeout(r.Context(), uploadTimeout)
	defer cancel()

	opts := &customerv1.ImportOptions{}
	for _, name := range optionNames {
		if err := setOption(opts, name, r.URL.Query().Get(name)); err != nil {
			t.g.writeError(w, r, 0, err)
			return
		}
	}
	body := http.MaxBytesReader(w, r.Body, t.maxUpload)
	r.Body = body
	var file io.Reader = body
	media, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch media {
	case "multipart/form-data":
		part, err := t.filePart(r, opts)
		if err != nil {
			t.uploadError(w, r, err)
			return
		}
		file = part
	case "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
		if opts.Format == customerv1.FileFormat_FILE_FORMAT_UNSPECIFIED {
			opts.Format = customerv1.FileFormat_FILE_FORMAT_XLSX
		}
	case "text/csv":
		if opts.Format == customerv1.FileFormat_FILE_FORMAT_UNSPECIFIED {
			opts.Format = customerv1.FileFormat_FILE_FORMAT_CSV
		}
	}
	if opts.FileName == "" {
		opts.FileName = dispositionName(r.Header.Get("Content-Disposition"))
	}
	if opts.FileName == "" {
		opts.FileName = "upload.csv"
		if opts.Format == customerv1.FileFormat_FILE_FORMAT_XLSX {
			opts.FileName = "upload.xlsx"
		}
	}

	ctx, err := t.annotate(ctx, r, "ImportCustomers", routeImport)
	if err != nil {
		t.fail(w, r, err)
		return
	}
	stream, err := t.client.ImportCustomers(ctx)
	if err != nil {
		t.fail(w, r, err)
		return
	}
	job, err := sendFile(stream, opts, file)
	if err != nil {
		t.uploadError(w, r, err)
		return
	}
	_, out := runtime.MarshalerForRequest(t.g.mux, r)
	b, err := out.Marshal(job)
	if err != nil {
		t.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", out.ContentType(job))
	_, _ = w.Write(b)
}

// readError marks a failure to read the client's body, as opposed to an error of the service.
type readError struct{ err error }

func (e readError) Error() string { return "read upload: " + e.err.Error() }
func (e readError) Unwrap() error { return e.err }

// sendFile streams the options and the file to the service and returns its answer.
func sendFile(stream grpc.ClientStreamingClient[customerv1.ImportCustomersRequest, customerv1.ImportJob], opts *customerv1.ImportOptions, file io.Reader) (*customerv1.ImportJob, error) {
	if err := stream.Send(&customerv1.ImportCustomersRequest{Payload: &customerv1.ImportCustomersRequest_Options{Options: opts}}); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	buf := make([]byte, uploadPiece)
	for {
		n, err := io.ReadFull(file, buf)
		if n > 0 {
			if serr := stream.Send(&customerv1.ImportCustomersRequest{Payload: &customerv1.ImportCustomersRequest_Chunk{Chunk: buf[:n]}}); serr != nil {
				// io.EOF: the service has answered already (an error); CloseAndRecv has it.
				if errors.Is(serr, io.EOF) {
					break
				}
				return nil, serr
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, readError{err}
		}
	}
	return stream.CloseAndRecv()
}

// filePart finds the part "file" of a multipart upload, applying option fields before it.
func (t *transfers) filePart(r *http.Request, opts *customerv1.ImportOptions) (io.Reader, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badParam("file", "无法解析 multipart 表单", "cannot parse the multipart form")
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, &validate.Error{Violations: []validate.Violation{{Field: "file", Reason: validate.ReasonRequired,
				Message: validate.Message{ZH: "表单中缺少文件字段 file", EN: "the form has no field \"file\""}}}}
		}
		if err != nil {
			return nil, readError{err}
		}
		if part.FormName() == "file" {
			if name := part.FileName(); name != "" && opts.FileName == "" {
				opts.FileName = name
			}
			return part, nil
		}
		value, err := io.ReadAll(io.LimitReader(part, 64<<10))
		if err != nil {
			return nil, readError{err}
		}
		if err := setOption(opts, part.FormName(), strings.TrimSpace(string(value))); err != nil {
			return nil, err
		}
	}
}

// uploadError answers a failed upload: 413 for a body over the limit (the gateway's or the
// service's), the service's error as usual, 400 for a body that could not be read.
func (t *transfers) uploadError(w http.ResponseWriter, r *http.Request, err error) {
	var tooBig *http.MaxBytesError
	var re readError
	var ve *validate.Error
	switch {
	case errors.As(err, &tooBig) || errorReason(err) == "FILE_TOO_LARGE":
		t.tooLarge(w, r)
	case errors.As(err, &ve):
		t.g.writeError(w, r, 0, err)
	case errors.As(err, &re):
		t.g.writeError(w, r, http.StatusBadRequest, apierr.New(codes.InvalidArgument, "UPLOAD_INTERRUPTED", apierr.Message{
			ZH: "上传中断，文件未完整接收，请重试", EN: "the upload was interrupted before the whole file arrived; try again"}))
	default:
		t.fail(w, r, err)
	}
}

// errorReason returns the ErrorInfo reason of a gRPC error.
func errorReason(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// dispositionName reads the file name of a Content-Disposition header, if any.
func dispositionName(h string) string {
	if h == "" {
		return ""
	}
	_, params, err := mime.ParseMediaType(h)
	if err != nil {
		return ""
	}
	return params["filename"]
}

func parseBool(r *http.Request, field string, names ...string) (bool, error) {
	v := param(r, names...)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badParam(field, field+" 应为 true 或 false", field+" must be true or false")
	}
	return b, nil
}

// export serves GET /v1/customers:export?format=csv|xlsx&filter=…&orderBy=…&showDeleted=…&revealPii=…
// With include=followups,needs,feedback (any of them) the answer is a ZIP holding the customer
// file and, for each included kind, the file of those customers' records (ExportFollowUps,
// ExportNeeds, ExportFeedback with the same filter, format and revealPii), each service checking
// and auditing its own part.
func (t *transfers) export(w http.ResponseWriter, r *http.Request) {
	format, ok := parseFormat(param(r, "format"))
	if !ok {
		t.g.writeError(w, r, 0, badParam("format", "format 只能是 csv 或 xlsx", "format must be csv or xlsx"))
		return
	}
	showDeleted, err := parseBool(r, "showDeleted", "showDeleted", "show_deleted")
	if err != nil {
		t.g.writeError(w, r, 0, err)
		return
	}
	reveal, err := parseBool(r, "revealPii", "revealPii", "reveal_pii")
	if err != nil {
		t.g.writeError(w, r, 0, err)
		return
	}
	include, err := t.parseInclude(param(r, "include"))
	if err == nil && len(include) > 0 && showDeleted {
		err = badParam("include", "导出已删除客户时不能同时导出其跟进记录、需求或反馈", "include cannot be combined with showDeleted")
	}
	if err != nil {
		t.g.writeError(w, r, 0, err)
		return
	}
	req := &customerv1.ExportCustomersRequest{Format: format, Filter: param(r, "filter"), OrderBy: param(r, "orderBy", "order_by"),
		ShowDeleted: showDeleted, RevealPii: reveal}
	ctx, cancel := context.WithTimeout(r.Context(), downloadTimeout)
	defer cancel()
	ctx, err = t.annotate(ctx, r, "ExportCustomers", routeExport)
	if err != nil {
		t.fail(w, r, err)
		return
	}
	stream, err := t.client.ExportCustomers(ctx, req)
	if len(include) == 0 {
		t.relay(w, r, "customers", stream, err)
		return
	}
	parts := []grpc.ServerStreamingClient[customerv1.FileChunk]{stream}
	if err == nil {
		for _, re := range include {
			var s grpc.ServerStreamingClient[customerv1.FileChunk]
			s, err = re.open(ctx, re.conn, format, req.GetFilter(), reveal)
			if err != nil {
				break
			}
			parts = append(parts, s)
		}
	}
	t.bundle(w, r, parts, err)
}

// parseInclude reads include=followups,needs,feedback into the record exports to bundle.
func (t *transfers) parseInclude(v string) ([]boundExport, error) {
	var out []boundExport
	for _, name := range strings.Split(v, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		i := slices.IndexFunc(t.records, func(b boundExport) bool { return b.name == name })
		if i < 0 {
			return nil, badParam("include", "include 只能包含 followups、needs、feedback", "include may list followups, needs and feedback")
		}
		if !slices.ContainsFunc(out, func(b boundExport) bool { return b.name == name }) {
			out = append(out, t.records[i])
		}
	}
	return out, nil
}

// recordExport is the download of one service's records of the customers a customer filter selects.
type recordExport struct {
	// name is what include= calls it.
	name, route, upstream, method string
	open                          func(ctx context.Context, conn *grpc.ClientConn, format customerv1.FileFormat, customerFilter string, reveal bool) (grpc.ServerStreamingClient[customerv1.FileChunk], error)
}

type boundExport struct {
	recordExport
	conn *grpc.ClientConn
}

var recordExports = []recordExport{
	{name: "followups", route: "/v1/followups:export", upstream: "followup", method: "/crm.followup.v1.FollowUpService/ExportFollowUps",
		open: func(ctx context.Context, conn *grpc.ClientConn, f customerv1.FileFormat, filter string, reveal bool) (grpc.ServerStreamingClient[customerv1.FileChunk], error) {
			return followupv1.NewFollowUpServiceClient(conn).ExportFollowUps(ctx, &followupv1.ExportFollowUpsRequest{Format: f, CustomerFilter: filter, RevealPii: reveal})
		}},
	{name: "needs", route: "/v1/needs:export", upstream: "needs", method: "/crm.needs.v1.NeedService/ExportNeeds",
		open: func(ctx context.Context, conn *grpc.ClientConn, f customerv1.FileFormat, filter string, reveal bool) (grpc.ServerStreamingClient[customerv1.FileChunk], error) {
			return needsv1.NewNeedServiceClient(conn).ExportNeeds(ctx, &needsv1.ExportNeedsRequest{Format: f, CustomerFilter: filter, RevealPii: reveal})
		}},
	{name: "feedback", route: "/v1/feedback:export", upstream: "feedback", method: "/crm.feedback.v1.FeedbackService/ExportFeedback",
		open: func(ctx context.Context, conn *grpc.ClientConn, f customerv1.FileFormat, filter string, reveal bool) (grpc.ServerStreamingClient[customerv1.FileChunk], error) {
			return feedbackv1.NewFeedbackServiceClient(conn).ExportFeedback(ctx, &feedbackv1.ExportFeedbackRequest{Format: f, CustomerFilter: filter, RevealPii: reveal})
		}},
}

// recordExportHandler serves GET /v1/<records>:export?format=csv|xlsx&customerFilter=…&revealPii=…
func (t *transfers) recordExportHandler(re boundExport) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		format, ok := parseFormat(param(r, "format"))
		if !ok {
			t.g.writeError(w, r, 0, badParam("format", "format 只能是 csv 或 xlsx", "format must be csv or xlsx"))
			return
		}
		reveal, err := parseBool(r, "revealPii", "revealPii", "reveal_pii")
		if err != nil {
			t.g.writeError(w, r, 0, err)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), downloadTimeout)
		defer cancel()
		ctx, err = t.annotate(ctx, r, re.method, re.route)
		if err != nil {
			t.fail(w, r, err)
			return
		}
		stream, err := re.open(ctx, re.conn, format, param(r, "customerFilter", "customer_filter"), reveal)
		t.relay(w, r, re.name, stream, err)
	}
}

// issues serves GET /v1/importJobs/{import_job_id}/errors.csv, the downloadable error report.
func (t *transfers) issues(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), downloadTimeout)
	defer cancel()
	ctx, err := t.annotate(ctx, r, "DownloadImportJobIssues", routeIssues)
	if err != nil {
		t.fail(w, r, err)
		return
	}
	stream, err := t.client.DownloadImportJobIssues(ctx, &customerv1.DownloadImportJobIssuesRequest{ImportJobId: r.PathValue("import_job_id")})
	t.relay(w, r, "import-errors", stream, err)
}

// relay writes a server-streamed file as the response. Errors before the first byte are answered
// as usual; an error later can no longer change the status, so the connection is aborted and the
// client sees a broken download rather than a complete-looking, truncated file.
func (t *transfers) relay(w http.ResponseWriter, r *http.Request, base string, stream grpc.ServerStreamingClient[customerv1.FileChunk], err error) {
	if err != nil {
		t.fail(w, r, err)
		return
	}
	first, err := stream.Recv()
	if err != nil {
		t.fail(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(downloadTimeout))
	h := w.Header()
	h.Set("Content-Type", first.GetContentType())
	h.Set("Content-Disposition", contentDisposition(first.GetFileName(), base))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	chunk := first
	for {
		if len(chunk.GetData()) > 0 {
			if _, err := w.Write(chunk.GetData()); err != nil {
				return // the client went away; the deferred cancel ends the stream
			}
			_ = rc.Flush()
		}
		chunk, err = stream.Recv()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.g.log.WarnContext(r.Context(), "download failed after the first byte", "code", status.Code(err).String())
			panic(http.ErrAbortHandler)
		}
	}
}

// bundle writes several server-streamed files as one ZIP, in order. Every stream's first message
// (its name, or its error) is read before the answer starts, so that a refusal by any of the
// services is an ordinary error response; a failure later aborts the download, as in relay.
func (t *transfers) bundle(w http.ResponseWriter, r *http.Request, parts []grpc.ServerStreamingClient[customerv1.FileChunk], err error) {
	if err != nil {
		t.fail(w, r, err)
		return
	}
	firsts := make([]*customerv1.FileChunk, len(parts))
	for i, p := range parts {
		if firsts[i], err = p.Recv(); err != nil {
			t.fail(w, r, err)
			return
		}
	}
	name := strings.TrimSuffix(strings.TrimSuffix(firsts[0].GetFileName(), ".csv"), ".xlsx") + ".zip"
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(downloadTimeout))
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", contentDisposition(name, "customers"))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	zw := zip.NewWriter(w)
	for i, p := range parts {
		// XLSX is a ZIP already; CSV compresses well.
		method := zip.Deflate
		if strings.HasSuffix(firsts[i].GetFileName(), ".xlsx") {
			method = zip.Store
		}
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: firsts[i].GetFileName(), Method: method, Modified: time.Now()})
		if err != nil {
			return
		}
		for {
			chunk, err := p.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.g.log.WarnContext(r.Context(), "download failed after the first byte", "code", status.Code(err).String())
				panic(http.ErrAbortHandler)
			}
			if _, err := fw.Write(chunk.GetData()); err != nil {
				return // the client went away; the deferred cancel ends the streams
			}
		}
		_ = rc.Flush()
	}
	_ = zw.Close()
}

// contentDisposition names a download: an ASCII fallback and the UTF-8 name (RFC 6266, RFC 5987),
// so that browsers save 客户导出-….csv under its Chinese name. The fallback, for clients that only
// read filename= (curl -J), starts with base ("customers", "followups", …) so that downloads of
// different kinds in the same second do not get the same name.
func contentDisposition(name, base string) string {
	if name == "" {
		name = "download"
	}
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' {
			return -1
		}
		return r
	}, name)
	if ascii != name {
		ascii = base + "-" + strings.TrimLeft(ascii, "-_. ")
	}
	var enc strings.Builder
	for _, b := range []byte(name) {
		if isAttrChar(b) {
			enc.WriteByte(b)
		} else {
			fmt.Fprintf(&enc, "%%%02X", b)
		}
	}
	return fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, ascii, enc.String())
}

// isAttrChar reports the bytes RFC 5987 leaves unencoded.
func isAttrChar(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("!#$&+-.^_`|~", b) >= 0
}
