package gateway

import (
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/metadata"

	"github.com/crmsuite/crm/pkg/apierr"
)

// writeError answers with an error the gateway found itself, in the same Status JSON as the
// services' errors ({code, message, details: [ErrorInfo, LocalizedMessage, BadRequest…]}) and in
// the language of the request's Accept-Language. httpStatus 0 means "from the gRPC code".
func (g *Gateway) writeError(w http.ResponseWriter, r *http.Request, httpStatus int, err error) {
	// apierr picks the language from gRPC metadata, as the services see it.
	ctx := metadata.NewIncomingContext(r.Context(),
		metadata.Pairs("accept-language", r.Header.Get("Accept-Language")))
	st := apierr.Status(ctx, errorDomain, err)
	if httpStatus == 0 {
		httpStatus = runtime.HTTPStatusFromCode(st.Code())
	}
	_, out := runtime.MarshalerForRequest(g.mux, r)
	runtime.HTTPError(ctx, g.mux, out, w, r, &runtime.HTTPStatusError{HTTPStatus: httpStatus, Err: st.Err()})
}
