package preferences

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
)

// Unsubscribe tokens. A token is base64url (no padding) of
//
//	version(1) = 1 | channel(1) | topic(1) | issue day(4, days since
//	1970-01-01 UTC, big-endian) | subject id | MAC(16)
//
// where MAC is the first 16 bytes of HMAC-SHA256 under the unsubscribe
// key of tokenDomain followed by everything before it. 128 bits of MAC are
// beyond guessing; the whole token is about 64 characters for kabinet's
// 25-character subject ids, short enough for an SMS. The issue day is not
// checked (tokens do not expire: RFC 8058 links in old mail must work) but
// recorded in the audit entry.
const (
	tokenVersion = 1
	tokenDomain  = "kabinet/unsubscribe/v1\x00"
	tokenMAC     = 16
	tokenHead    = 7 // version, channel, topic, day
	maxSubject   = audit.MaxIDLen
)

// The one-byte codes of channels and topics in a token; never renumber.
func channelCode(c Channel) byte {
	switch c {
	case SMS:
		return 1
	case Email:
		return 2
	case Push:
		return 3
	case Cabinet:
		return 4
	}
	return 0
}

func channelOf(b byte) Channel {
	for _, c := range Channels() {
		if channelCode(c) == b {
			return c
		}
	}
	return ""
}

func topicCode(t Topic) byte {
	switch t {
	case Service:
		return 1
	case Informational:
		return 2
	case Marketing:
		return 3
	}
	return 0
}

func topicOf(b byte) Topic {
	for _, t := range Topics() {
		if topicCode(t) == b {
			return t
		}
	}
	return ""
}

// UnsubscribeToken returns the token that turns topic off on ch for
// subject, issued today. It returns "" for an unknown channel or topic or
// an empty or over-long subject id.
func (n *Notifications) UnsubscribeToken(subject string, topic Topic, ch Channel) string {
	cc, tc := channelCode(ch), topicCode(topic)
	if cc == 0 || tc == 0 || subject == "" || len(subject) > maxSubject {
		return ""
	}
	day := uint32(n.now().UTC().Unix() / 86400)
	b := make([]byte, 0, tokenHead+len(subject)+tokenMAC)
	b = append(b, tokenVersion, cc, tc)
	b = binary.BigEndian.AppendUint32(b, day)
	b = append(b, subject...)
	b = append(b, n.mac(b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// UnsubscribeURL is the link that carries the token: BaseURL/unsubscribe/TOKEN.
func (n *Notifications) UnsubscribeURL(subject string, topic Topic, ch Channel) string {
	tok := n.UnsubscribeToken(subject, topic, ch)
	if tok == "" {
		return ""
	}
	return n.base + "/unsubscribe/" + tok
}

func (n *Notifications) mac(payload []byte) []byte {
	h := hmac.New(sha256.New, n.key)
	h.Write([]byte(tokenDomain))
	h.Write(payload)
	return h.Sum(nil)[:tokenMAC]
}

// Unsubscription is what a valid token stands for.
type Unsubscription struct {
	Subject string
	Channel Channel
	Topic   Topic
	Issued  time.Time // the day the token was issued, at 00:00 UTC
}

// CheckToken verifies token without changing anything, so that a page
// opened by a GET (which mail scanners prefetch) can ask to confirm before
// Unsubscribe. A token that does not verify is fault.Invalid
// "preferences.unsubscribe_invalid".
func (n *Notifications) CheckToken(token string) (Unsubscription, error) {
	bad := func(why string) (Unsubscription, error) {
		return Unsubscription{}, fault.Wrap(fault.Invalid, fmt.Errorf("preferences: unsubscribe token: %s", why), "preferences.unsubscribe_invalid")
	}
	if len(token) > 2*(tokenHead+maxSubject+tokenMAC) {
		return bad("too long")
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil {
		return bad("not base64url")
	}
	if len(b) < tokenHead+1+tokenMAC || b[0] != tokenVersion {
		return bad("malformed")
	}
	payload, sum := b[:len(b)-tokenMAC], b[len(b)-tokenMAC:]
	if !hmac.Equal(sum, n.mac(payload)) {
		return bad("MAC does not match")
	}
	// Past the MAC the payload is ours; the checks below guard against a
	// future version's codes read by an older kabinet.
	u := Unsubscription{Subject: string(payload[tokenHead:]), Channel: channelOf(payload[1]), Topic: topicOf(payload[2]),
		Issued: time.Unix(int64(binary.BigEndian.Uint32(payload[3:7]))*86400, 0).UTC()}
	if u.Channel == "" || u.Topic == "" || len(u.Subject) > maxSubject {
		return bad("unknown channel or topic")
	}
	return u, nil
}

// Unsubscribe verifies token and turns its topic off on its channel for
// its subject, as if the subject had done so in the cabinet: the audit
// entry "notify.settings" names the subject as the actor (attrs also
// via=unsubscribe and the token's issue day). It works without signing in
// and is idempotent: a topic already off stays off and writes no new
// entry. Errors: fault.Invalid "preferences.unsubscribe_invalid" for a
// token that does not verify (forged, altered, truncated), and
// "preferences.fixed" for a cell that cannot be turned off.
func (n *Notifications) Unsubscribe(ctx context.Context, token, requestID string) (Unsubscription, error) {
	u, err := n.CheckToken(token)
	if err != nil {
		return Unsubscription{}, err
	}
	actor := audit.Actor{Kind: audit.ActorSubject, ID: u.Subject}
	extra := map[string]string{"via": "unsubscribe", "issued": u.Issued.Format(time.DateOnly)}
	if _, err := n.set(ctx, actor, u.Subject, u.Channel, u.Topic, false, requestID, extra); err != nil {
		return Unsubscription{}, fmt.Errorf("preferences: unsubscribe: %w", err)
	}
	return u, nil
}
