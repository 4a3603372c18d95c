package scenario

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crmsuite/crm/deploy/bench/internal/seed"
	"github.com/crmsuite/crm/pkg/authn"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
)

// ErrNoTransfer means the customer service does not serve CustomerTransferService (yet).
var ErrNoTransfer = errors.New("CustomerTransferService is not served by the customer service")

// Export is one export's figures.
type Export struct {
	Rows  int // data lines of the CSV (its header left out)
	Bytes int64
	Took  time.Duration
}

// ExportAll streams every customer an admin may see (all live ones) as CSV, masked, and counts
// what arrives.
func (e *Env) ExportAll(ctx context.Context) (Export, error) {
	start := time.Now()
	stream, err := e.transfer.ExportCustomers(authn.WithBearer(ctx, e.admin),
		&customerv1.ExportCustomersRequest{Format: customerv1.FileFormat_FILE_FORMAT_CSV})
	if err != nil {
		return Export{}, transferErr(err)
	}
	var x Export
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return x, transferErr(err)
		}
		x.Bytes += int64(len(chunk.GetData()))
		x.Rows += bytes.Count(chunk.GetData(), []byte{'\n'})
	}
	x.Took = time.Since(start)
	x.Rows-- // the header line
	return x, nil
}

func transferErr(err error) error {
	if status.Code(err) == codes.Unimplemented {
		return ErrNoTransfer
	}
	return grpcErr(err)
}

// ImportCSV builds a CSV file of n new customers, the from-th on (Chinese headers as a user's
// spreadsheet has them, names and 195 mobiles that no seeded or created customer has, and no other
// file with a different from).
func ImportCSV(l seed.Layout, from, n int) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("\ufeff")
	w := csv.NewWriter(&b)
	if err := w.Write([]string{"客户名称", "客户类型", "所属行业", "联系人", "职位", "手机号", "省份", "城市", "区县", "详细地址", "客户规模", "客户来源"}); err != nil {
		return nil, err
	}
	for k := from; k < from+n; k++ {
		c := l.CustomerRow((k * 7) % l.Customers)
		city := strings.TrimSuffix(c.City, "市")
		if err := w.Write([]string{fmt.Sprintf("%s%s导入%d%s有限公司", city, seed.Brand(k), k, seed.Trade(k)), "企业客户", "I65",
			seed.PersonName(k, 60), "采购经理", fmt.Sprintf("195%08d", k), c.Province, c.City, c.District, c.Street,
			"51-200人", "展会"}); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return b.Bytes(), w.Error()
}

// Import is one import's figures.
type Import struct {
	Job  *customerv1.ImportJob
	Took time.Duration // upload until the job is done
}

// ImportFile uploads file as an admin in valid-only mode and waits (polling) until the job ends.
func (e *Env) ImportFile(ctx context.Context, file []byte) (Import, error) {
	start := time.Now()
	ctx = authn.WithBearer(ctx, e.admin)
	stream, err := e.transfer.ImportCustomers(ctx)
	if err != nil {
		return Import{}, transferErr(err)
	}
	if err := stream.Send(&customerv1.ImportCustomersRequest{Payload: &customerv1.ImportCustomersRequest_Options{
		Options: &customerv1.ImportOptions{FileName: "压测导入.csv", Mode: customerv1.ImportMode_IMPORT_MODE_VALID_ONLY,
			Format: customerv1.FileFormat_FILE_FORMAT_CSV, WaitSeconds: 25}}}); err != nil {
		return Import{}, transferErr(err)
	}
	for off := 0; off < len(file); off += 1 << 20 {
		end := min(off+1<<20, len(file))
		if err := stream.Send(&customerv1.ImportCustomersRequest{Payload: &customerv1.ImportCustomersRequest_Chunk{Chunk: file[off:end]}}); err != nil {
			return Import{}, transferErr(err)
		}
	}
	job, err := stream.CloseAndRecv()
	if err != nil {
		return Import{}, transferErr(err)
	}
	for !finished(job.GetState()) {
		select {
		case <-ctx.Done():
			return Import{Job: job}, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		if job, err = e.transfer.GetImportJob(ctx, &customerv1.GetImportJobRequest{ImportJobId: job.GetImportJobId()}); err != nil {
			return Import{}, transferErr(err)
		}
	}
	return Import{Job: job, Took: time.Since(start)}, nil
}

func finished(s customerv1.ImportJobState) bool {
	return s == customerv1.ImportJobState_IMPORT_JOB_STATE_DONE || s == customerv1.ImportJobState_IMPORT_JOB_STATE_FAILED ||
		s == customerv1.ImportJobState_IMPORT_JOB_STATE_UNDONE
}
