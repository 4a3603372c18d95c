package validate

import (
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

// province is one of the 34 provincial-level divisions (省级行政区) with the
// forms people write it in.
type province struct {
	name    string   // canonical full name, e.g. 广西壮族自治区
	short   string   // the name without its administrative suffix, e.g. 广西
	nameEN  string   // English name
	aliases []string // other accepted spellings, compared after foldProvince
}

// provinces are in GB/T 2260 code order (11 北京 … 65 新疆, 71 台湾,
// 81 香港, 82 澳门). Never written: callers only see copies.
var provinces = [...]province{
	{"北京市", "北京", "Beijing", nil},
	{"天津市", "天津", "Tianjin", nil},
	{"河北省", "河北", "Hebei", nil},
	{"山西省", "山西", "Shanxi", nil},
	{"内蒙古自治区", "内蒙古", "Inner Mongolia", []string{"内蒙", "neimenggu", "nei mongol"}},
	{"辽宁省", "辽宁", "Liaoning", nil},
	{"吉林省", "吉林", "Jilin", nil},
	{"黑龙江省", "黑龙江", "Heilongjiang", nil},
	{"上海市", "上海", "Shanghai", nil},
	{"江苏省", "江苏", "Jiangsu", nil},
	{"浙江省", "浙江", "Zhejiang", nil},
	{"安徽省", "安徽", "Anhui", nil},
	{"福建省", "福建", "Fujian", nil},
	{"江西省", "江西", "Jiangxi", nil},
	{"山东省", "山东", "Shandong", nil},
	{"河南省", "河南", "Henan", nil},
	{"湖北省", "湖北", "Hubei", nil},
	{"湖南省", "湖南", "Hunan", nil},
	{"广东省", "广东", "Guangdong", nil},
	{"广西壮族自治区", "广西", "Guangxi", []string{"广西自治区", "guangxi zhuang autonomous region"}},
	{"海南省", "海南", "Hainan", nil},
	{"重庆市", "重庆", "Chongqing", nil},
	{"四川省", "四川", "Sichuan", nil},
	{"贵州省", "贵州", "Guizhou", nil},
	{"云南省", "云南", "Yunnan", nil},
	{"西藏自治区", "西藏", "Tibet", []string{"xizang", "xizang autonomous region", "tibet autonomous region"}},
	{"陕西省", "陕西", "Shaanxi", nil},
	{"甘肃省", "甘肃", "Gansu", nil},
	{"青海省", "青海", "Qinghai", nil},
	{"宁夏回族自治区", "宁夏", "Ningxia", []string{"宁夏自治区", "ningxia hui autonomous region"}},
	{"新疆维吾尔自治区", "新疆", "Xinjiang", []string{"新疆自治区", "xinjiang uygur autonomous region", "xinjiang uyghur autonomous region"}},
	{"台湾省", "台湾", "Taiwan", []string{"台灣", "中国台湾", "台湾地区"}},
	{"香港特别行政区", "香港", "Hong Kong", []string{"香港特区", "中国香港", "hongkong sar", "hong kong sar"}},
	{"澳门特别行政区", "澳门", "Macao", []string{"澳門", "澳门特区", "中国澳门", "macau", "macao sar", "macau sar"}},
}

// Province maps a province name to its canonical full name. It accepts the
// full name (广东省, 内蒙古自治区, 香港特别行政区), the short form (广东, 内蒙古,
// 香港), a few common variants (内蒙, 中国香港) and the English name
// (Guangdong, Inner Mongolia, Hong Kong), ignoring case, spaces and width.
func Province(name string) (canonical string, ok bool) {
	canonical, ok = provinceByFolded[foldProvince(name)]
	return canonical, ok
}

// provinceByFolded maps every accepted form, folded, to its canonical name, so that a lookup folds
// only its input: imports call Province for every row. Where two provinces accepted the same form
// the first in code order would win, as a scan of the list does.
var provinceByFolded = func() map[string]string {
	m := map[string]string{}
	add := func(form, canonical string) {
		if _, taken := m[form]; !taken && form != "" {
			m[form] = canonical
		}
	}
	for _, p := range provinces {
		add(p.name, p.name)
		add(p.short, p.name)
		add(foldProvince(p.nameEN), p.name)
		for _, a := range p.aliases {
			add(foldProvince(a), p.name)
		}
	}
	return m
}()

// Provinces returns the canonical names of the 34 provincial-level divisions
// in GB/T 2260 code order, as a fresh slice.
func Provinces() []string {
	out := make([]string, len(provinces))
	for i, p := range provinces {
		out[i] = p.name
	}
	return out
}

// ProvinceNameEN returns the English name of a canonical province name
// (as returned by Province), for English-language responses and reports.
func ProvinceNameEN(canonical string) (string, bool) {
	for _, p := range provinces {
		if p.name == canonical {
			return p.nameEN, true
		}
	}
	return "", false
}

// foldProvince removes whitespace, folds width and lower-cases ASCII.
func foldProvince(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, width.Narrow.String(s))
}
