package validate

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// legalFormSuffixesZH are the Chinese organisation-form endings ignored when
// comparing names, longest first so that 股份有限公司 wins over 有限公司.
// 集团 is kept (a group parent and its operating company are different legal
// persons), and so is 分公司 (a branch is not its head office).
var legalFormSuffixesZH = [...]string{
	"特殊普通合伙",
	"股份有限公司",
	"有限责任公司",
	"有限公司",
	"股份公司",
	"有限合伙",
	"普通合伙",
}

// legalFormWordsEN are English legal-form words dropped when they end a name
// as whole words ("Tencent Co., Ltd." → tencent); matching whole words
// keeps "Costco" intact.
var legalFormWordsEN = map[string]bool{
	"co": true, "company": true, "corp": true, "corporation": true,
	"inc": true, "incorporated": true, "llc": true, "llp": true,
	"ltd": true, "limited": true, "plc": true, "pty": true, "gmbh": true,
}

// NormaliseName folds a company or person name for duplicate detection:
// NFKC (full-width → half-width), lower case, every space, punctuation mark
// and symbol removed (including （）【】 and ·), then trailing legal forms
// stripped: English whole words (Co., Ltd., Inc., LLC, Corp., Limited …) and
// the Chinese 股份有限公司 / 有限责任公司 / 有限公司 / 股份公司 and partnership
// forms. 集团 and 分公司 are kept. A name that is nothing but a legal form
// keeps it rather than folding to "". NormaliseName is idempotent.
func NormaliseName(s string) string {
	return foldTokens(nameTokens(s))
}

// foldTokens is NormaliseName of the name that nameTokens split into tokens.
func foldTokens(tokens []string) string {
	for len(tokens) > 1 && legalFormWordsEN[tokens[len(tokens)-1]] {
		tokens = tokens[:len(tokens)-1]
	}
	// Joining can put a combining mark next to a new base letter, so compose
	// again; otherwise a second pass would not give the same result.
	joined := norm.NFKC.String(strings.Join(tokens, ""))
	return trimSuffixes(joined, legalFormSuffixesZH[:], false)
}

// nameTokens splits the NFKC, lower-cased form of s at every separator.
func nameTokens(s string) []string {
	f := norm.NFKC.String(strings.ToLower(norm.NFKC.String(s)))
	return strings.FieldsFunc(f, isNameSeparator)
}

// isNameSeparator reports characters that carry no identity in a name.
// utf8.RuneError (invalid input) is a symbol, so it is dropped too.
func isNameSeparator(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) ||
		unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError
}

// trimSuffixes removes any of suffixes from the end of s until none
// matches. Unless toEmpty, it stops rather than remove all of s.
func trimSuffixes(s string, suffixes []string, toEmpty bool) string {
	for {
		trimmed := false
		for _, suf := range suffixes {
			if strings.HasSuffix(s, suf) && (toEmpty || len(s) > len(suf)) {
				s = s[:len(s)-len(suf)]
				trimmed = true
				break
			}
		}
		if !trimmed {
			return s
		}
	}
}

// genericNameWords are endings that say what kind of party a name is but not
// who it is; a name made only of them ("公司", "有限公司", "客户") is empty.
var genericNameWords = [...]string{
	"特殊普通合伙", "股份有限公司", "有限责任公司", "有限公司", "股份公司", "有限合伙", "普通合伙",
	"公司", "集团", "企业", "单位", "客户", "用户", "工厂", "厂", "店",
}

// placeholderNames are whole names (after folding, with generic endings
// removed) that say "unknown" or "test" instead of naming anyone.
var placeholderNames = map[string]bool{
	"未知": true, "待确认": true, "待定": true, "待补充": true, "待填写": true, "未填": true, "未填写": true,
	"不详": true, "不知道": true, "不清楚": true, "无": true, "暂无": true, "没有": true, "空": true,
	"无名": true, "无名氏": true, "匿名": true, "测试": true, "样例": true, "示例": true, "演示": true,
	"散客": true, "个人": true, "先生": true, "女士": true, "小姐": true, "老板": true,
	"test": true, "testing": true, "demo": true, "sample": true, "example": true,
	"xxx": true, "xx": true, "x": true, "na": true, "none": true, "null": true, "nil": true,
	"unknown": true, "tbd": true, "tba": true, "todo": true, "asdf": true,
	"company": true, "co": true, "ltd": true, "inc": true, "customer": true, "client": true,
}

// PlaceholderName reports vague names that must be refused (SPEC §1: "某公司",
// "未知", "待确认" …). After NFKC, lower-casing and removing spaces and
// punctuation, a name is a placeholder when it is
//   - empty, or made only of digits ("-", "……", "123");
//   - a word such as 未知, 待确认, 不详, 无, 暂无, 测试, test, xxx, N/A, possibly
//     followed by digits ("test1") or by generic endings (未知公司, 测试客户);
//   - nothing but generic endings (公司, 有限公司, 客户);
//   - starting with 某 or containing 某某 (某公司, 某科技公司, 北京某某公司);
//   - starting with two or more x's not followed by a letter (XX公司, xxx科技);
//   - one character repeated three or more times (aaa, 啊啊啊).
func PlaceholderName(s string) bool {
	tokens := nameTokens(s)
	joined := strings.Join(tokens, "")
	if joined == "" || isASCIIDigits(joined) {
		return true
	}
	if strings.HasPrefix(joined, "某") || strings.Contains(joined, "某某") {
		return true
	}
	base := foldTokens(tokens)
	// "测试公司1", "test123": numbering does not make a placeholder real.
	core := trimSuffixes(strings.TrimRight(base, "0123456789"), genericNameWords[:], true)
	if core == "" || placeholderNames[core] || placeholderNames[base] ||
		placeholderNames[strings.TrimRight(core, "0123456789")] {
		return true
	}
	if rest := strings.TrimLeft(joined, "x"); len(joined)-len(rest) >= 2 {
		if r, _ := utf8.DecodeRuneInString(rest); rest == "" || !unicode.IsLetter(r) || r > unicode.MaxASCII {
			return true
		}
	}
	return isRepeatedRune(core, 3)
}

// isRepeatedRune reports whether s is one rune repeated at least n times.
func isRepeatedRune(s string, n int) bool {
	first, _ := utf8.DecodeRuneInString(s)
	count := 0
	for _, r := range s {
		if r != first {
			return false
		}
		count++
	}
	return count >= n
}

// nicknameTitles are forms of address that people put after a surname
// instead of a given name; longest first.
var nicknameTitles = [...]string{
	"总经理", "董事长", "总监", "总裁", "经理", "老板", "老总", "老师", "主任", "主管",
	"先生", "女士", "小姐", "太太", "阿姨", "师傅", "处长", "科长", "局长", "部长", "院长", "校长",
	"总", "董", "工", "哥", "姐",
}

// compoundSurnames are the common two-character surnames, so that 欧阳总 is
// recognised as surname + title like 李总.
var compoundSurnames = map[string]bool{
	"欧阳": true, "司马": true, "上官": true, "诸葛": true, "东方": true, "皇甫": true, "尉迟": true,
	"公孙": true, "慕容": true, "长孙": true, "宇文": true, "司徒": true, "夏侯": true, "令狐": true,
	"端木": true, "南宫": true, "西门": true, "独孤": true, "轩辕": true, "闻人": true, "澹台": true,
	"呼延": true, "钟离": true, "宗政": true, "濮阳": true, "太史": true, "申屠": true, "万俟": true,
}

// NicknameLike reports contact names that look like a form of address rather
// than a real name: a surname followed by a title (李总, 王经理, 张老师, 欧阳总,
// 刘先生, 陈女士), an older/younger-sibling address (王大哥, 李姐), or 老王 / 小李.
// It is a warning only (SPEC §1): a real name can occasionally match.
func NicknameLike(s string) bool {
	n := strings.Join(nameTokens(s), "")
	runes := []rune(n)
	if len(runes) < 2 || len(runes) > 5 {
		return false
	}
	for _, r := range runes {
		if !unicode.Is(unicode.Han, r) {
			return false
		}
	}
	if len(runes) == 2 && (runes[0] == '老' || runes[0] == '小') {
		return true
	}
	for _, t := range nicknameTitles {
		prefix, found := strings.CutSuffix(n, t)
		if !found {
			continue
		}
		p := []rune(prefix)
		switch {
		case len(p) == 1, compoundSurnames[prefix]:
			return true
		case len(p) == 2 && (p[1] == '大' || p[1] == '小' || p[1] == '老'):
			return true
		}
	}
	return false
}
