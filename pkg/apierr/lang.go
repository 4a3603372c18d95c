package apierr

import (
	"context"
	"strconv"
	"strings"

	"google.golang.org/grpc/metadata"
)

// Locales returned by Lang and written into google.rpc.LocalizedMessage.
const (
	LangZH = "zh-CN"
	LangEN = "en"
)

// Lang returns LangEN when the incoming gRPC metadata "accept-language" (or
// "grpcgateway-accept-language", as grpc-gateway forwards the HTTP header)
// prefers English over Chinese, and LangZH otherwise, including when the
// header is absent or names neither language.
func Lang(ctx context.Context) string {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return LangZH
	}
	values := md.Get("accept-language")
	if len(values) == 0 {
		values = md.Get("grpcgateway-accept-language")
	}
	return preferred(strings.Join(values, ","))
}

// preferred picks between Chinese and English from an Accept-Language value
// (RFC 9110 §12.5.4): the highest q wins, ties go to the first listed, q=0
// means "not acceptable", and other languages and "*" are ignored.
func preferred(header string) string {
	best, bestQ := LangZH, -1.0
	for part := range strings.SplitSeq(header, ",") {
		tag, params, _ := strings.Cut(part, ";")
		tag = strings.ToLower(strings.TrimSpace(tag))
		primary, _, _ := strings.Cut(strings.ReplaceAll(tag, "_", "-"), "-")
		var lang string
		switch primary {
		case "en":
			lang = LangEN
		case "zh":
			lang = LangZH
		default:
			continue
		}
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || strings.ToLower(strings.TrimSpace(k)) != "q" {
				continue
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				f = 0 // malformed weight: treat the entry as unusable
			}
			q = f
		}
		if q > 0 && q > bestQ {
			best, bestQ = lang, q
		}
	}
	return best
}

// text returns msg in lang, falling back to whichever language is present.
func text(msg Message, lang string) string {
	if lang == LangEN && msg.EN != "" {
		return msg.EN
	}
	if msg.ZH != "" {
		return msg.ZH
	}
	return msg.EN
}
