package gateway

import (
	"testing"

	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
)

func TestContentDisposition(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"客户导出-20261123-150405.csv": `attachment; filename="followups-20261123-150405.csv"; filename*=UTF-8''%E5%AE%A2%E6%88%B7%E5%AF%BC%E5%87%BA-20261123-150405.csv`,
		"customers-20261123.xlsx":  `attachment; filename="customers-20261123.xlsx"; filename*=UTF-8''customers-20261123.xlsx`,
		`a"b\c %.csv`:              `attachment; filename="followups-abc .csv"; filename*=UTF-8''a%22b%5Cc%20%25.csv`,
		"":                         `attachment; filename="download"; filename*=UTF-8''download`,
	} {
		if got := contentDisposition(name, "followups"); got != want {
			t.Errorf("contentDisposition(%q)\n got %s\nwant %s", name, got, want)
		}
	}
}

func TestUploadOptions(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]customerv1.ImportMode{
		"dry_run": customerv1.ImportMode_IMPORT_MODE_DRY_RUN, "allOrNothing": customerv1.ImportMode_IMPORT_MODE_ALL_OR_NOTHING,
		"IMPORT_MODE_VALID_ONLY": customerv1.ImportMode_IMPORT_MODE_VALID_ONLY, "": customerv1.ImportMode_IMPORT_MODE_UNSPECIFIED,
	} {
		if got, ok := parseMode(in); !ok || got != want {
			t.Errorf("parseMode(%q) = %v %v", in, got, ok)
		}
	}
	if _, ok := parseMode("commit"); ok {
		t.Error("unknown mode accepted")
	}
	o := &customerv1.ImportOptions{}
	for k, v := range map[string]string{"format": "xlsx", "mapping": `{"公司":"name"}`, "waitSeconds": "3", "defaultOwnerId": "u-1"} {
		if err := setOption(o, k, v); err != nil {
			t.Fatal(err)
		}
	}
	if o.GetFormat() != customerv1.FileFormat_FILE_FORMAT_XLSX || o.GetColumnMapping()["公司"] != "name" || o.GetWaitSeconds() != 3 || o.GetDefaultOwnerId() != "u-1" {
		t.Fatalf("options %v", o)
	}
	for k, v := range map[string]string{"format": "xls", "mapping": "[1]", "waitSeconds": "soon", "mode": "all"} {
		if err := setOption(o, k, v); err == nil {
			t.Errorf("%s=%s accepted", k, v)
		}
	}
	if got := dispositionName(`attachment; filename*=UTF-8''%E5%AE%A2%E6%88%B7.csv`); got != "客户.csv" {
		t.Errorf("dispositionName = %q", got)
	}
}
