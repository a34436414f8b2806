package http

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// A flood of refused requests (throttled logins, tokens that do not verify,
// requests naming another tenant, requests over the rate limit) must not
// write one audit event each: every event takes its tenant's chain head and
// a database connection. repeats folds them: the first refusal of a kind is
// recorded at once, as before; the same refusal again within the window is
// only counted, and when the window ends one event records the count. A
// flood therefore writes at most one event per kind and window on each
// instance, however fast it comes.
//
// Kinds are (tenant, action, flag, reason, actor, route or account) in a
// tenant's log and (action, client) for the platform's security events; a
// route is its pattern, never the path, so ids in a path make no new kinds.

// defaultRepeatWindow is how long repeated refusals are counted before
// their event is written.
const defaultRepeatWindow = time.Minute

// maxRepeatKinds bounds the kinds counted at once; beyond it, new kinds
// fold into one per tenant and action (or one per action for the platform).
const maxRepeatKinds = 10_000

type repeatKind struct {
	tenant                            uuid.UUID // uuid.Nil: a platform security event
	action, flag, reason, actor, what string    // what: the route, or the client for the platform
}

type repeated struct {
	tenant      uuid.UUID     // whose log the summary goes to; uuid.Nil: the platform's
	event       tenantd.Event // the first refusal's, for the summary
	count       int           // refusals since the last event, not recorded one by one
	first, last time.Time
	req         tenantd.RequestInfo // the last refusal's request
}

type repeats struct {
	window time.Duration
	write  func(repeatKind, *repeated)

	mu       sync.Mutex
	kinds    map[repeatKind]*repeated
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func newRepeats(window time.Duration, write func(repeatKind, *repeated)) *repeats {
	r := &repeats{window: window, write: write, kinds: make(map[repeatKind]*repeated),
		stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
}

// seen reports whether a refusal of kind k was already recorded in this
// window: then it is only counted, and the caller records nothing.
func (r *repeats) seen(k repeatKind, e tenantd.Event, req tenantd.RequestInfo) bool {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.kinds[k]; !ok && len(r.kinds) >= maxRepeatKinds {
		k.reason, k.actor, k.what = "", "", "" // too many kinds: fold into a coarser one
		e.TargetType, e.TargetID = "", ""
	}
	if rep, ok := r.kinds[k]; ok {
		rep.count++
		rep.last, rep.req = now, req
		return true
	}
	r.kinds[k] = &repeated{tenant: k.tenant, event: e, first: now, last: now}
	return false
}

// attribute says whose log the summary of kind k goes to, when only the
// first refusal found out (a throttled login names its tenant by slug).
func (r *repeats) attribute(k repeatKind, tenant uuid.UUID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rep, ok := r.kinds[k]; ok {
		rep.tenant = tenant
	}
}

func (r *repeats) run() {
	defer close(r.done)
	t := time.NewTicker(r.window)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.flush()
		case <-r.stop:
			r.flush()
			return
		}
	}
}

// flush writes an event for every kind that repeated since its last one,
// and forgets the kinds that did not: their next refusal is recorded at
// once again.
func (r *repeats) flush() {
	r.mu.Lock()
	due := make(map[repeatKind]repeated)
	for k, rep := range r.kinds {
		if rep.count == 0 {
			delete(r.kinds, k)
			continue
		}
		due[k] = *rep
		rep.count, rep.first = 0, rep.last
	}
	r.mu.Unlock()
	for k, rep := range due {
		r.write(k, &rep)
	}
}

// close writes what is still counted and stops; later calls do nothing.
func (r *repeats) close() {
	r.stopOnce.Do(func() { close(r.stop) })
	<-r.done
}

// writeRepeated is repeats' writer: one event that says how many refusals
// of a kind were not recorded one by one.
func (s *Server) writeRepeated(k repeatKind, rep *repeated) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := tenantd.RequestInfo{IP: rep.req.IP, UserAgent: rep.req.UserAgent}
	if rep.tenant == uuid.Nil {
		reason := fmt.Sprintf("%s; repeated %d more times from %s to %s", rep.event.Changes["reason"], rep.count,
			rep.first.UTC().Format(time.RFC3339), rep.last.UTC().Format(time.RFC3339))
		if err := s.identity.RecordSecurityEvent(ctx, k.action, reason, req); err != nil {
			s.log.Error("record repeated security event", "err", err, "action", k.action)
		}
		return
	}
	e := rep.event
	e.Changes = map[string]any{"reason": k.reason, "count": rep.count,
		"first_at": rep.first.UTC().Format(time.RFC3339Nano), "last_at": rep.last.UTC().Format(time.RFC3339Nano)}
	if e.FlagReason != "" {
		s.log.Warn("flagged events repeated", "action", e.Action, "reason", e.FlagReason,
			"tenant_id", rep.tenant, "count", rep.count)
	}
	if err := s.audit.Record(ctx, tenantd.AnonymousScope(rep.tenant, req), e); err != nil {
		s.log.Error("record repeated audit event", "err", err, "action", e.Action)
	}
}

// recordRefusal records a refused request's event in the tenant's log, or
// counts it when the same refusal was recorded in this window (repeats).
// what is the route's pattern, or what else tells refusals apart.
func (s *Server) recordRefusal(ctx context.Context, scope tenantd.Scope, e tenantd.Event, reason, what string) {
	k := repeatKind{tenant: scope.TenantID, action: e.Action, flag: e.FlagReason, reason: reason,
		actor: e.Actor.Type + ":" + e.Actor.ID, what: what}
	if s.repeats.seen(k, e, scope.Request) {
		if e.FlagReason != "" {
			s.metrics.flagged.WithLabelValues(e.FlagReason).Inc()
		}
		return
	}
	s.record(ctx, scope, e)
}

// recordSecurityRefusal records a refusal that belongs to no verified
// tenant as a platform security event, or counts it when the same client
// was refused the same way in this window.
func (s *Server) recordSecurityRefusal(ctx context.Context, action, reason string, req tenantd.RequestInfo) {
	e := tenantd.Event{Action: action, Changes: map[string]any{"reason": reason}}
	if s.repeats.seen(repeatKind{action: action, what: req.IP}, e, req) {
		return
	}
	if err := s.identity.RecordSecurityEvent(ctx, action, reason, req); err != nil {
		logger(ctx).Error("record security event", "err", err)
	}
}
