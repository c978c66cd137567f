package main

import (
	"context"
	"encoding/json"
	"fmt"

	"kabinet/internal/config"
	"kabinet/internal/consent"
	"kabinet/internal/fault"
	"kabinet/internal/i18n"
	"kabinet/internal/receipts"
)

// receiptService builds, signs and prints a subject's consent receipt
// for the cabinet (web.Receipts).
type receiptService struct {
	cfg    *config.Config
	ledger *consent.Ledger
	signer *receipts.Signer
	bundle *i18n.Bundle
}

func (s receiptService) input(ctx context.Context, subject, purpose, lang string) (receipts.Input, error) {
	p := s.cfg.Register.Purpose(purpose)
	if p == nil {
		return receipts.Input{}, fault.New(fault.NotFound, "error.not_found.text")
	}
	records, err := s.ledger.History(ctx, subject, purpose)
	if err != nil {
		return receipts.Input{}, err
	}
	return receipts.Input{Config: s.cfg, Purpose: p, Records: records, Subject: subject, Lang: lang,
		PolicyURL: s.cfg.Server.BaseURL + "/policy", Bundle: s.bundle}, nil
}

// JWS returns the signed receipt: the file `kabinet receipt verify` checks.
func (s receiptService) JWS(ctx context.Context, subject, purpose, lang string) (string, error) {
	in, err := s.input(ctx, subject, purpose, lang)
	if err != nil {
		return "", err
	}
	r, err := receipts.Build(in)
	if err != nil {
		return "", err
	}
	return s.signer.Sign(r)
}

// PDF returns the printable receipt, matched to the JWS by its fingerprint.
func (s receiptService) PDF(ctx context.Context, subject, purpose, lang string) ([]byte, error) {
	in, err := s.input(ctx, subject, purpose, lang)
	if err != nil {
		return nil, err
	}
	r, err := receipts.Build(in)
	if err != nil {
		return nil, err
	}
	jws, err := s.signer.Sign(r)
	if err != nil {
		return nil, err
	}
	return receipts.PDF(r, jws, in)
}

// JWKS is the public key set published at /.well-known/jwks.json.
func (s receiptService) JWKS() ([]byte, error) {
	b, err := json.Marshal(s.signer.JWKS())
	if err != nil {
		return nil, fmt.Errorf("receipts: jwks: %w", err)
	}
	return b, nil
}
