package transfer_test

import (
	"bytes"
	"testing"

	"github.com/crmsuite/crm/pkg/sheet"
	"github.com/crmsuite/crm/services/customer/internal/transfer"
)

// BenchmarkReadAndConvert measures the pure part of an import: both passes over a 100,000-row
// file and the conversion and validation of every row, without the database.
func BenchmarkReadAndConvert(b *testing.B) {
	rows := [][]string{zhHeader}
	for i := range 100_000 {
		rows = append(rows, zhRow(i))
	}
	var xbuf bytes.Buffer
	exp, _ := sheet.NewWriter(&xbuf, sheet.XLSX, "Sheet1")
	for _, r := range rows {
		_ = exp.Write(append([]string(nil), r...))
	}
	_ = exp.Close()
	files := map[string][]byte{
		"csv-gb18030": encode(b, csvText(rows), transfer.EncodingGB18030),
		"xlsx":        xbuf.Bytes(),
	}
	for name, data := range files {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				got, err := read(b, "f."+name[:4], data, nil, admin)
				if err != nil || len(got.customers) != 100_000 {
					b.Fatal(err, len(got.customers))
				}
			}
			b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
