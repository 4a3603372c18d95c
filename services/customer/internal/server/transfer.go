package server

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/crmsuite/crm/pkg/apierr"
	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/authz"
	"github.com/crmsuite/crm/pkg/listquery"
	"github.com/crmsuite/crm/pkg/sheet"
	"github.com/crmsuite/crm/pkg/validate"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	"github.com/crmsuite/crm/services/customer/internal/customer"
	"github.com/crmsuite/crm/services/customer/internal/store"
	"github.com/crmsuite/crm/services/customer/internal/transfer"
)

const transferMethod = "/crm.customer.v1.CustomerTransferService/"

// transferers may import, follow their jobs and export (SPEC §9, §11): admins for everyone,
// managers for their team, sales reps for the customers they own. Service agents and executives
// neither import nor export.
var transferers = map[authn.Role]authz.Scope{authn.RoleAdmin: authz.ScopeAll, authn.RoleManager: authz.ScopeTeam, authn.RoleSales: authz.ScopeOwn}

// DefaultMaxUploadBytes bounds an import file unless configured otherwise (100 MiB).
const DefaultMaxUploadBytes = 100 << 20

// Transfer implements customerv1.CustomerTransferServiceServer (imports and exports) and runs the
// import worker of this process.
type Transfer struct {
	customerv1.UnimplementedCustomerTransferServiceServer
	tr        *store.Transfer
	log       *slog.Logger
	maxUpload int64
	// wake tells the worker that a job was queued.
	wake chan struct{}
	// poll is how often the worker looks for jobs queued by other replicas.
	poll time.Duration
	now  func() time.Time
}

// NewTransfer returns the transfer service. maxUpload bounds an import file (0: DefaultMaxUploadBytes).
func NewTransfer(tr *store.Transfer, maxUpload int64, log *slog.Logger) *Transfer {
	if maxUpload <= 0 {
		maxUpload = DefaultMaxUploadBytes
	}
	return &Transfer{tr: tr, log: log, maxUpload: maxUpload, wake: make(chan struct{}, 1), poll: 2 * time.Second, now: time.Now}
}

// Run works off queued import jobs, one at a time, until ctx ends. Replicas share the queue; a
// job interrupted by a shutdown goes back to it.
func (s *Transfer) Run(ctx context.Context) error {
	for {
		for ctx.Err() == nil {
			job, err := s.tr.ClaimImportJob(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Error("claim import job", "err", err)
				}
				break
			}
			if job == nil {
				break
			}
			if err := s.tr.RunImportJob(ctx, job); err != nil && ctx.Err() == nil {
				s.log.Error("import job failed", "import_job_id", job.ID, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.wake:
		case <-time.After(s.poll):
		}
	}
}

// importerScope converts the caller's authorisation scope for this RPC.
func importerScope(ctx context.Context) transfer.Scope {
	switch authz.ScopeFromContext(ctx) {
	case authz.ScopeAll:
		return transfer.ScopeAll
	case authz.ScopeTeam:
		return transfer.ScopeTeam
	}
	return transfer.ScopeOwn
}

var modeFromProto = map[customerv1.ImportMode]store.ImportMode{
	customerv1.ImportMode_IMPORT_MODE_DRY_RUN: store.ModeDryRun, customerv1.ImportMode_IMPORT_MODE_ALL_OR_NOTHING: store.ModeAllOrNothing,
	customerv1.ImportMode_IMPORT_MODE_VALID_ONLY: store.ModeValidOnly,
}

var formatFromProto = map[customerv1.FileFormat]transfer.Format{
	customerv1.FileFormat_FILE_FORMAT_CSV: transfer.FormatCSV, customerv1.FileFormat_FILE_FORMAT_XLSX: transfer.FormatXLSX,
}

var (
	modeToProto   = invert(modeFromProto)
	formatToProto = invert(formatFromProto)
)

var stateToProto = map[store.ImportStatus]customerv1.ImportJobState{
	store.StatusQueued: customerv1.ImportJobState_IMPORT_JOB_STATE_QUEUED, store.StatusRunning: customerv1.ImportJobState_IMPORT_JOB_STATE_RUNNING,
	store.StatusDone: customerv1.ImportJobState_IMPORT_JOB_STATE_DONE, store.StatusFailed: customerv1.ImportJobState_IMPORT_JOB_STATE_FAILED,
	store.StatusUndone: customerv1.ImportJobState_IMPORT_JOB_STATE_UNDONE,
}

// importOptions checks the options of an upload.
func importOptions(o *customerv1.ImportOptions, p authn.Principal, scope transfer.Scope) (store.ImportOptions, time.Duration, error) {
	var v validate.Collector
	if o == nil {
		v.Add("options", validate.ReasonRequired, validate.Message{ZH: "第一条消息须为导入选项（options）", EN: "the first message must carry the options"})
		return store.ImportOptions{}, 0, v.Err()
	}
	name := strings.TrimSpace(o.GetFileName())
	// Browsers may send a whole path (C:\fakepath\客户.xlsx): keep the last element.
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	switch {
	case name == "":
		v.Add("options.file_name", validate.ReasonRequired, validate.RequiredMessage("文件名", "File name"))
	case validate.RuneLen(name) > 200:
		v.Add("options.file_name", validate.ReasonTooLong, validate.TooLongMessage("文件名", "File name", 200))
	}
	mode, ok := modeFromProto[o.GetMode()]
	if !ok {
		v.Add("options.mode", validate.ReasonRequired, validate.Message{
			ZH: "请选择导入方式：试运行（dry_run）、全部成功或全部不导入（all_or_nothing）或只导入有效行（valid_only）",
			EN: "choose a mode: dry_run, all_or_nothing or valid_only"})
	}
	format := formatFromProto[o.GetFormat()]
	if o.GetFormat() != customerv1.FileFormat_FILE_FORMAT_UNSPECIFIED && format == "" {
		v.Add("options.format", validate.ReasonUnknownCode, validate.Message{ZH: "文件格式无效", EN: "unknown file format"})
	}
	merge(&v, transfer.ValidateMapping(o.GetColumnMapping()))
	owner, team := strings.TrimSpace(o.GetDefaultOwnerId()), strings.TrimSpace(o.GetDefaultTeamId())
	if scope == transfer.ScopeOwn && owner != "" && owner != p.UserID {
		v.Add("options.default_owner_id", validate.ReasonNotAllowed, validate.Message{ZH: "销售人员只能导入自己负责的客户", EN: "a sales rep can only import customers it owns"})
	}
	if scope != transfer.ScopeAll && team != "" && team != p.Team {
		v.Add("options.default_team_id", validate.ReasonNotAllowed, validate.Message{ZH: "只能导入到自己的团队", EN: "customers can only be imported into your own team"})
	}
	for _, f := range []struct{ name, value string }{{"options.default_owner_id", owner}, {"options.default_team_id", team}, {"options.sheet", o.GetSheet()}} {
		if validate.RuneLen(f.value) > 64 {
			v.Add(f.name, validate.ReasonTooLong, validate.TooLongMessage(f.name, f.name, 64))
		}
	}
	wait := 10 * time.Second
	switch w := o.GetWaitSeconds(); {
	case w < 0 || w > 25:
		v.Add("options.wait_seconds", validate.ReasonOutOfRange, validate.Message{ZH: "wait_seconds 须在 0 到 25 之间", EN: "wait_seconds must be between 0 and 25"})
	case w > 0:
		wait = time.Duration(w) * time.Second
	}
	if err := v.Err(); err != nil {
		return store.ImportOptions{}, 0, err
	}
	return store.ImportOptions{FileName: name, Format: format, Mode: mode, Mapping: o.GetColumnMapping(), DefaultOwnerID: owner,
		DefaultTeamID: team, Sheet: strings.TrimSpace(o.GetSheet())}, wait, nil
}

// ImportCustomers receives a file, queues its import job and waits a little for the result.
func (s *Transfer) ImportCustomers(stream grpc.ClientStreamingServer[customerv1.ImportCustomersRequest, customerv1.ImportJob]) error {
	ctx := stream.Context()
	p, _ := caller(ctx)
	scope := importerScope(ctx)
	first, err := stream.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return violation("options", validate.ReasonRequired, validate.Message{ZH: "缺少导入选项和文件", EN: "the options and the file are missing"})
		}
		return err
	}
	opts, wait, err := importOptions(first.GetOptions(), p, scope)
	if err != nil {
		return err
	}
	up, err := s.tr.BeginUpload(ctx, actorOf(p), scope, opts, s.maxUpload)
	if err != nil {
		return err
	}
	defer up.Abort()
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if msg.GetOptions() != nil {
			return violation("options", validate.ReasonNotAllowed, validate.Message{ZH: "导入选项只能出现在第一条消息中", EN: "options may only come in the first message"})
		}
		if err := up.Write(ctx, msg.GetChunk()); err != nil {
			return s.uploadError(err)
		}
	}
	if up.Size() == 0 {
		return apierr.New(codes.InvalidArgument, transfer.ReasonFileEmpty, validate.Message{ZH: "上传的文件是空的", EN: "the uploaded file is empty"})
	}
	job, err := up.Commit(ctx)
	if err != nil {
		return err
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	job, err = s.await(ctx, job, wait)
	if err != nil {
		return err
	}
	return stream.SendAndClose(jobToProto(job, apierr.Lang(ctx)))
}

func (s *Transfer) uploadError(err error) error {
	if errors.Is(err, store.ErrFileTooLarge) {
		return apierr.New(codes.InvalidArgument, "FILE_TOO_LARGE", validate.Message{
			ZH: "文件超过大小上限（" + strconv.FormatInt(s.maxUpload>>20, 10) + " MiB），请拆分后分批导入",
			EN: "the file is larger than the limit (" + strconv.FormatInt(s.maxUpload>>20, 10) + " MiB); split it and import the parts"}).
			With("max_bytes", strconv.FormatInt(s.maxUpload, 10))
	}
	return err
}

// await polls the job until it is finished, wait has passed or the call's deadline is near.
func (s *Transfer) await(ctx context.Context, job *store.ImportJob, wait time.Duration) (*store.ImportJob, error) {
	until := s.now().Add(wait)
	if dl, ok := ctx.Deadline(); ok && dl.Add(-time.Second).Before(until) {
		until = dl.Add(-time.Second)
	}
	for {
		cur, err := s.tr.GetImportJob(ctx, job.ID, store.Reach{}, maxInlineIssues)
		if err != nil {
			return nil, err
		}
		if cur.Terminal() || !s.now().Before(until) {
			return cur, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// maxInlineIssues is how many issues a job carries in GetImportJob.
const maxInlineIssues = 100

// english reports whether lang asks for English.
func english(lang string) bool { return validate.Message{ZH: "zh", EN: "en"}.Text(lang) == "en" }

func importJobID(id string) (string, error) {
	id = strings.ToUpper(strings.TrimSpace(id))
	if id == "" {
		return "", violation("import_job_id", validate.ReasonRequired, validate.RequiredMessage("导入任务编号", "Import job id"))
	}
	if !strings.HasPrefix(id, "IMP-") || len(id) > 40 {
		return "", violation("import_job_id", validate.ReasonInvalidFormat, validate.Message{ZH: "导入任务编号格式应为 IMP-YYYYMMDD-NNNN", EN: "an import job id looks like IMP-YYYYMMDD-NNNN"})
	}
	return id, nil
}

// GetImportJob returns a job with its first issues.
func (s *Transfer) GetImportJob(ctx context.Context, req *customerv1.GetImportJobRequest) (*customerv1.ImportJob, error) {
	_, reach := caller(ctx)
	id, err := importJobID(req.GetImportJobId())
	if err != nil {
		return nil, err
	}
	job, err := s.tr.GetImportJob(ctx, id, reach, maxInlineIssues)
	if err != nil {
		return nil, transferError(err, id)
	}
	return jobToProto(job, apierr.Lang(ctx)), nil
}

// ListImportJobs lists the caller's reach of jobs, newest first.
func (s *Transfer) ListImportJobs(ctx context.Context, req *customerv1.ListImportJobsRequest) (*customerv1.ListImportJobsResponse, error) {
	p, reach := caller(ctx)
	size, err := listquery.PageSize(req.GetPageSize(), 20, 100)
	if err != nil {
		return nil, err
	}
	query := listquery.Fingerprint("import_jobs", p.UserID, reach.OwnerID, reach.TeamID)
	after, err := listquery.DecodeToken[store.Cursor](req.GetPageToken(), query)
	if err != nil {
		return nil, err
	}
	jobs, next, err := s.tr.ListImportJobs(ctx, reach, size, after)
	if err != nil {
		return nil, err
	}
	resp := &customerv1.ListImportJobsResponse{NextPageToken: listquery.EncodeToken(next, query)}
	for _, j := range jobs {
		resp.ImportJobs = append(resp.ImportJobs, jobToProto(j, apierr.Lang(ctx)))
	}
	return resp, nil
}

// ListImportJobIssues pages through a job's per-row report.
func (s *Transfer) ListImportJobIssues(ctx context.Context, req *customerv1.ListImportJobIssuesRequest) (*customerv1.ListImportJobIssuesResponse, error) {
	_, reach := caller(ctx)
	id, err := importJobID(req.GetImportJobId())
	if err != nil {
		return nil, err
	}
	size, err := listquery.PageSize(req.GetPageSize(), 100, 1000)
	if err != nil {
		return nil, err
	}
	query := listquery.Fingerprint("import_issues", id)
	cur, err := listquery.DecodeToken[store.Cursor](req.GetPageToken(), query)
	if err != nil {
		return nil, err
	}
	after := 0
	if cur != nil {
		after, _ = strconv.Atoi(cur.Value)
	}
	if _, err := s.tr.GetImportJob(ctx, id, reach, 0); err != nil {
		return nil, transferError(err, id)
	}
	issues, next, err := s.tr.ListImportIssues(ctx, id, after, size)
	if err != nil {
		return nil, err
	}
	resp := &customerv1.ListImportJobIssuesResponse{}
	if next > 0 {
		resp.NextPageToken = listquery.EncodeToken(&store.Cursor{Value: strconv.Itoa(next), ID: id}, query)
	}
	for _, is := range issues {
		resp.Issues = append(resp.Issues, issueToProto(is, apierr.Lang(ctx)))
	}
	return resp, nil
}

// DownloadImportJobIssues streams a job's report as CSV.
func (s *Transfer) DownloadImportJobIssues(req *customerv1.DownloadImportJobIssuesRequest, stream grpc.ServerStreamingServer[customerv1.FileChunk]) error {
	ctx := stream.Context()
	_, reach := caller(ctx)
	id, err := importJobID(req.GetImportJobId())
	if err != nil {
		return err
	}
	if _, err := s.tr.GetImportJob(ctx, id, reach, 0); err != nil {
		return transferError(err, id)
	}
	lang := apierr.Lang(ctx)
	name := "导入问题-" + id + ".csv"
	if english(lang) {
		name = "import-issues-" + id + ".csv"
	}
	if err := stream.Send(&customerv1.FileChunk{FileName: name, ContentType: sheet.ContentType(transfer.FormatCSV)}); err != nil {
		return err
	}
	w := sheet.NewChunkWriter(func(b []byte) error { return stream.Send(&customerv1.FileChunk{Data: b}) })
	report, err := transfer.NewIssueReport(w, lang)
	if err != nil {
		return err
	}
	if err := s.tr.EachImportIssue(ctx, id, report.Write); err != nil {
		return err
	}
	if err := report.Close(); err != nil {
		return err
	}
	return w.Flush()
}

// UndoImportJob removes exactly the customers a job created.
func (s *Transfer) UndoImportJob(ctx context.Context, req *customerv1.UndoImportJobRequest) (*customerv1.ImportJob, error) {
	p, reach := caller(ctx)
	id, err := importJobID(req.GetImportJobId())
	if err != nil {
		return nil, err
	}
	reason := strings.TrimSpace(req.GetReason())
	if err := customer.ValidateReason("reason", reason, false); err != nil {
		return nil, err
	}
	job, err := s.tr.UndoImportJob(ctx, id, reach, actorOf(p), reason)
	if err != nil {
		return nil, transferError(err, id)
	}
	return jobToProto(job, apierr.Lang(ctx)), nil
}

// ExportCustomers streams the customers the caller may list as a CSV or XLSX file and audits the
// export with who, when, which filter and how many rows.
func (s *Transfer) ExportCustomers(req *customerv1.ExportCustomersRequest, stream grpc.ServerStreamingServer[customerv1.FileChunk]) error {
	ctx := stream.Context()
	p, reach := caller(ctx)
	var v validate.Collector
	format := transfer.FormatCSV
	if req.GetFormat() != customerv1.FileFormat_FILE_FORMAT_UNSPECIFIED {
		if format = formatFromProto[req.GetFormat()]; format == "" {
			v.Add("format", validate.ReasonUnknownCode, validate.Message{ZH: "导出格式只能是 CSV 或 XLSX", EN: "format must be CSV or XLSX"})
		}
	}
	in := exportInput(&v, p, reach, req.GetFilter(), req.GetOrderBy(), req.GetShowDeleted(), req.GetRevealPii())
	if err := v.Err(); err != nil {
		return err
	}
	lang := apierr.Lang(ctx)
	now := s.now().In(time.FixedZone("CST", 8*3600))
	name := "客户导出-" + now.Format("20060102-150405") + "." + string(format)
	if english(lang) {
		name = "customers-" + now.Format("20060102-150405") + "." + string(format)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	rec := store.ExportRecord{ID: id.String(), Format: string(format), Filter: req.GetFilter(), OrderBy: req.GetOrderBy(),
		ShowDeleted: req.GetShowDeleted(), Masked: !req.GetRevealPii(), FileName: name}
	// The export is audited however it ends, also when the client goes away.
	defer func() {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := s.tr.RecordExport(actx, rec, actorOf(p)); err != nil {
			s.log.Error("audit export", "export_id", rec.ID, "err", err)
		}
	}()
	if err := stream.Send(&customerv1.FileChunk{FileName: name, ContentType: sheet.ContentType(format)}); err != nil {
		return err
	}
	w := sheet.NewChunkWriter(func(b []byte) error { return stream.Send(&customerv1.FileChunk{Data: b}) })
	exp, err := transfer.NewExporter(w, format, lang, rec.Masked)
	if err != nil {
		return err
	}
	rec.Rows, err = s.tr.ExportCustomers(ctx, in, exp.Write)
	if err != nil {
		return mapError(err, "")
	}
	if err := exp.Close(); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	rec.Completed = true
	return nil
}

// exportInput checks the parameters every export shares and returns the list input that selects
// the customers to export.
func exportInput(v *validate.Collector, p authn.Principal, reach store.Reach, filter, orderBy string, showDeleted, revealPII bool) store.ListInput {
	conds, err := customer.ParseFilter(filter)
	merge(v, err)
	order, err := customer.ParseOrder(orderBy)
	merge(v, err)
	admin := p.Has(authn.RoleAdmin)
	if showDeleted && !admin {
		v.Add("show_deleted", validate.ReasonNotAllowed, validate.Message{ZH: "只有管理员可以导出已删除客户", EN: "only admins may export deleted customers"})
	}
	if revealPII && !admin {
		v.Add("reveal_pii", validate.ReasonNotAllowed, validate.Message{ZH: "只有管理员可以导出未脱敏的个人信息", EN: "only admins may export personal information unmasked"})
	}
	return store.ListInput{Reach: reach, Conditions: conds, Order: order, ShowDeleted: showDeleted}
}

// refPageSize is how many customers one CustomerRefPage holds: large enough that a million
// customers are a thousand messages, small enough that a page's follow-ups are one quick query.
const refPageSize = 1000

// StreamCustomerRefs streams the ids and names of the customers an export with the same filter
// would hold, for the follow-up, needs and feedback exports. Those services audit their exports;
// this call is not audited separately.
func (s *Transfer) StreamCustomerRefs(req *customerv1.StreamCustomerRefsRequest, stream grpc.ServerStreamingServer[customerv1.CustomerRefPage]) error {
	ctx := stream.Context()
	p, reach := caller(ctx)
	var v validate.Collector
	in := exportInput(&v, p, reach, req.GetFilter(), "", req.GetShowDeleted(), req.GetRevealPii())
	if err := v.Err(); err != nil {
		return err
	}
	page := &customerv1.CustomerRefPage{Customers: make([]*customerv1.CustomerRef, 0, refPageSize)}
	send := func() error {
		if len(page.Customers) == 0 {
			return nil
		}
		err := stream.Send(page)
		page.Customers = page.Customers[:0]
		return err
	}
	_, err := s.tr.ExportCustomers(ctx, in, func(c *customer.Customer) error {
		if !req.GetRevealPii() {
			c = c.Masked()
		}
		page.Customers = append(page.Customers, &customerv1.CustomerRef{CustomerId: c.ID, Name: c.Name})
		if len(page.Customers) == refPageSize {
			return send()
		}
		return nil
	})
	if err != nil {
		return mapError(err, "")
	}
	return send()
}

// transferError maps the store's job errors to API errors.
func transferError(err error, id string) error {
	var ue *store.UndoError
	switch {
	case errors.Is(err, store.ErrImportJobNotFound):
		return apierr.New(codes.NotFound, "IMPORT_JOB_NOT_FOUND", validate.Message{
			ZH: "导入任务 " + id + " 不存在或无权查看", EN: "import job " + id + " not found"}).With("import_job_id", id)
	case errors.As(err, &ue):
		msg := validate.Message{ZH: "导入任务尚未完成，不能撤销", EN: "the import job has not finished; it cannot be undone yet"}
		switch ue.Status {
		case store.StatusUndone:
			msg = validate.Message{ZH: "该导入已撤销过", EN: "the import was undone already"}
		case store.StatusDone, store.StatusFailed:
			msg = validate.Message{ZH: "试运行没有导入任何客户，无需撤销", EN: "a dry run imported nothing; there is nothing to undo"}
		}
		return apierr.New(codes.FailedPrecondition, "IMPORT_NOT_UNDOABLE", msg).With("import_job_id", id).With("state", string(ue.Status))
	}
	return err
}

// jobToProto renders a job for the API in the caller's language.
func jobToProto(j *store.ImportJob, lang string) *customerv1.ImportJob {
	p := &customerv1.ImportJob{
		ImportJobId: j.ID, FileName: j.Options.FileName, FileSize: j.FileSize, FileSha256: hex.EncodeToString(j.FileSHA256),
		Format: formatToProto[j.Format], Encoding: string(j.Encoding), Mode: modeToProto[j.Options.Mode], State: stateToProto[j.Status],
		TotalRows: int32(j.TotalRows), DoneRows: int32(j.DoneRows), CreatedCount: int32(j.Created), SkippedCount: int32(j.Skipped),
		FailedCount: int32(j.Failed), ErrorReason: j.ErrorReason, IssueCount: int32(j.IssueCount), IgnoredColumns: j.Ignored,
		CreatedBy: j.CreatedBy, TeamId: j.TeamID, CreateTime: ts(j.CreatedAt), UndoneBy: j.UndoneBy, UndoneCount: int32(j.UndoneCount),
	}
	if j.ErrorReason != "" {
		p.ErrorMessage = j.ErrorMessage.Text(lang)
	}
	for _, c := range j.Columns {
		p.Columns = append(p.Columns, &customerv1.ColumnMapping{Column: c[0], Field: c[1]})
	}
	if j.StartedAt != nil {
		p.StartTime = ts(*j.StartedAt)
	}
	if j.FinishedAt != nil {
		p.FinishTime = ts(*j.FinishedAt)
	}
	if j.UndoneAt != nil {
		p.UndoTime = ts(*j.UndoneAt)
	}
	for _, is := range j.Issues {
		p.Issues = append(p.Issues, issueToProto(is, lang))
	}
	return p
}

var kindToProto = map[transfer.Kind]customerv1.ImportIssueKind{
	transfer.KindError: customerv1.ImportIssueKind_IMPORT_ISSUE_KIND_ERROR, transfer.KindDuplicate: customerv1.ImportIssueKind_IMPORT_ISSUE_KIND_DUPLICATE,
}

func issueToProto(is transfer.Issue, lang string) *customerv1.ImportIssue {
	return &customerv1.ImportIssue{Row: int32(is.Row), Column: is.Column, Field: is.Field, Reason: is.Reason,
		Message: is.Message.Text(lang), Kind: kindToProto[is.Kind]}
}
