package web

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"kabinet/internal/register"
)

// routes is the one place that lists the portal's URLs.
func (s *Server) routes(mux *http.ServeMux, reg *prometheus.Registry) {
	mux.Handle("GET /{$}", s.handle(s.home))
	if s.ids != nil {
		s.accountRoutes(mux)
	}
	mux.Handle("GET /demo/messages", s.handle(s.demoMessages))
	if s.api != nil {
		mux.Handle("/api/", s.api)
	}
	mux.Handle("POST /lang", s.handle(s.setLanguage))
	mux.Handle("GET /policy", s.handle(s.currentDocument(register.DocPolicy)))
	mux.Handle("GET /agreement", s.handle(s.currentDocument(register.DocAgreement)))
	mux.Handle("GET /documents/{doc}", s.handle(s.documentHistory))
	mux.Handle("GET /documents/{doc}/{version}", s.handle(s.documentVersion))
	mux.Handle("GET /static/", s.static())
	mux.HandleFunc("GET /favicon.ico", s.favicon)

	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))

	mux.Handle("/", s.handle(s.notFound))
}

// unsubscribePattern is the RFC 8058 one-click unsubscribe: the mail
// provider POSTs it cross-site, without cookies, so it is exempt from the
// cross-origin check (the token, an HMAC, is the authority).
const unsubscribePattern = "POST /unsubscribe/{token}"

// accountRoutes are sign-up, sign-in, the cabinet and federation.
func (s *Server) accountRoutes(mux *http.ServeMux) {
	mux.Handle("GET /signup", s.handle(s.signupForm))
	mux.Handle("POST /signup", s.handle(s.signup))
	mux.Handle("GET /signup/code", s.handle(s.codeForm("/signup/code", false)))
	mux.Handle("POST /signup/code", s.handle(s.signupCode))
	mux.Handle("GET /signup/finish", s.handle(s.signupFinishForm))
	mux.Handle("POST /signup/finish", s.handle(s.signupFinish))
	mux.Handle("GET /signin", s.handle(s.signinForm))
	mux.Handle("POST /signin", s.handle(s.signin))
	mux.Handle("GET /signin/code", s.handle(s.identifyForm("signin_code")))
	mux.Handle("POST /signin/code", s.handle(s.identify("signin_code")))
	mux.Handle("GET /signin/code/confirm", s.handle(s.codeForm("/signin/code/confirm", false)))
	mux.Handle("POST /signin/code/confirm", s.handle(s.signinCode))
	mux.Handle("GET /reset", s.handle(s.identifyForm("reset")))
	mux.Handle("POST /reset", s.handle(s.identify("reset")))
	mux.Handle("GET /reset/confirm", s.handle(s.codeForm("/reset/confirm", true)))
	mux.Handle("POST /reset/confirm", s.handle(s.resetConfirm))
	mux.Handle("POST /signout", s.handle(s.signout))

	mux.Handle("GET /cabinet", s.signedIn(s.cabinet))
	mux.Handle("POST /cabinet/sessions/{id}/revoke", s.signedIn(s.revokeSession))
	mux.Handle("POST /cabinet/report", s.signedIn(s.reportUnauthorised))
	mux.Handle("GET /cabinet/data", s.signedIn(s.dataPage))
	mux.Handle("POST /cabinet/data", s.signedIn(s.dataSave))
	mux.Handle("GET /cabinet/data/image/{category}", s.signedIn(s.dataImage))
	mux.Handle("GET /cabinet/contact/confirm", s.signedIn(s.codeForm("/cabinet/contact/confirm", false)))
	mux.Handle("POST /cabinet/contact/confirm", s.signedIn(s.contactConfirm))
	mux.Handle("GET /cabinet/contact/{method}", s.signedIn(s.contactForm))
	mux.Handle("POST /cabinet/contact/{method}", s.signedIn(s.contactStart))
	mux.Handle("GET /cabinet/history", s.signedIn(s.history))
	if s.receipts != nil {
		mux.Handle("GET /cabinet/consents/{purpose}/receipt.json", s.signedIn(s.receipt(false)))
		mux.Handle("GET /cabinet/consents/{purpose}/receipt.pdf", s.signedIn(s.receipt(true)))
		mux.Handle("GET /.well-known/jwks.json", s.handle(s.jwks))
	}
	if s.files != nil {
		mux.Handle("GET /cabinet/documents", s.signedIn(s.documentsPage))
		mux.Handle("POST /cabinet/documents", s.signedIn(s.documentUpload))
		mux.Handle("GET /cabinet/documents/{id}", s.signedIn(s.documentDownload))
		mux.Handle("POST /cabinet/documents/{id}/delete", s.signedIn(s.documentDelete))
	}
	if s.prefs != nil {
		mux.Handle("GET /cabinet/notifications", s.signedIn(s.notifications))
		mux.Handle("POST /cabinet/notifications", s.signedIn(s.notificationsSave))
		mux.Handle("POST /cabinet/notifications/{id}/read", s.signedIn(s.notificationRead))
		mux.Handle("GET /unsubscribe/{token}", s.handle(s.unsubscribePage))
		mux.Handle(unsubscribePattern, s.handle(s.unsubscribe))
	}
	mux.Handle("GET /cabinet/consents", s.signedIn(s.consentsList))
	mux.Handle("POST /cabinet/consents/{purpose}/give", s.signedIn(s.consentAction(true)))
	mux.Handle("POST /cabinet/consents/{purpose}/withdraw", s.signedIn(s.consentAction(false)))
	mux.Handle("GET /cabinet/delete", s.signedIn(s.deleteForm))
	mux.Handle("POST /cabinet/delete", s.signedIn(s.deleteStart))
	mux.Handle("GET /cabinet/delete/confirm", s.signedIn(s.codeForm("/cabinet/delete/confirm", false)))
	mux.Handle("POST /cabinet/delete/confirm", s.signedIn(s.deleteConfirm))
	if s.fed != nil {
		mux.Handle("GET /auth/{provider}", s.handle(s.federationStart))
		mux.Handle("GET /auth/{provider}/callback", s.handle(s.federationCallback))
		mux.Handle("POST /auth/link", s.handle(s.federationLink))
	}
}
