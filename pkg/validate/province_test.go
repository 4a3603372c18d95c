package validate

import "testing"

func TestProvincesList(t *testing.T) {
	t.Parallel()
	all := Provinces()
	if len(all) != 34 {
		t.Fatalf("len(Provinces()) = %d, want 34", len(all))
	}
	seen := map[string]bool{}
	for _, p := range all {
		if seen[p] {
			t.Errorf("duplicate %q", p)
		}
		seen[p] = true
		if got, ok := Province(p); !ok || got != p {
			t.Errorf("Province(%q) = %q, %v; want itself", p, got, ok)
		}
		if en, ok := ProvinceNameEN(p); !ok || en == "" {
			t.Errorf("ProvinceNameEN(%q) = %q, %v", p, en, ok)
		}
	}
	all[0] = "changed"
	if Provinces()[0] != "北京市" {
		t.Fatal("Provinces() shares its backing array")
	}
}

func TestProvince(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"广东省", "广东省", true},
		{"广东", "广东省", true},
		{" 广 东 ", "广东省", true},
		{"北京", "北京市", true},
		{"北京市", "北京市", true},
		{"重庆", "重庆市", true},
		{"内蒙古", "内蒙古自治区", true},
		{"内蒙", "内蒙古自治区", true},
		{"内蒙古自治区", "内蒙古自治区", true},
		{"广西", "广西壮族自治区", true},
		{"宁夏", "宁夏回族自治区", true},
		{"新疆", "新疆维吾尔自治区", true},
		{"西藏", "西藏自治区", true},
		{"黑龙江", "黑龙江省", true},
		{"山西", "山西省", true},
		{"陕西", "陕西省", true},
		{"香港", "香港特别行政区", true},
		{"中国香港", "香港特别行政区", true},
		{"香港特别行政区", "香港特别行政区", true},
		{"澳门", "澳门特别行政区", true},
		{"台湾", "台湾省", true},
		{"台湾省", "台湾省", true},
		{"Guangdong", "广东省", true},
		{"inner mongolia", "内蒙古自治区", true},
		{"Hong Kong", "香港特别行政区", true},
		{"MACAU", "澳门特别行政区", true},
		{"Shaanxi", "陕西省", true},
		{"Shanxi", "山西省", true},
		{"Tibet", "西藏自治区", true},
		{"Ｇｕａｎｇｄｏｎｇ", "广东省", true},
		{"", "", false},
		{"广州", "", false},
		{"广州市", "", false},
		{"中国", "", false},
		{"粤", "", false},
		{"广东省广州市", "", false},
		{"New York", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, ok := Province(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Province(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
	if en, ok := ProvinceNameEN("广东"); ok || en != "" {
		t.Errorf("ProvinceNameEN takes canonical names only, got %q, %v", en, ok)
	}
	if en, _ := ProvinceNameEN("内蒙古自治区"); en != "Inner Mongolia" {
		t.Errorf("ProvinceNameEN(内蒙古自治区) = %q", en)
	}
}
