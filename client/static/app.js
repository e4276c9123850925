// Progressive enhancement only: every page and form works without this
// script. It counts down the time left to pay, pads typed prices, drives
// the Stripe card element, and applies live updates (Server-Sent Events
// from /live) to what the page already shows.
(function () {
  'use strict';

  const mmss = (s) => Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');

  // "Time left to pay: m:ss" on an order, counting down to "Order Expired";
  // "m:ss left" in My Orders.
  const countdowns = [];
  const countdown = document.getElementById('countdown');
  if (countdown) {
    countdowns.push({ el: countdown, text: (left) => 'Time left to pay: ' + mmss(left), over: () => {
      countdown.textContent = 'Order Expired';
      document.querySelectorAll('form[action$="/pay"], #stripe-form, #cancel-order').forEach((f) => f.remove());
    } });
  }
  document.querySelectorAll('.countdown').forEach((el) => {
    countdowns.push({ el, text: (left) => mmss(left) + ' left', over: () => {
      const row = el.closest('tr');
      el.textContent = 'expired';
      if (row) row.querySelectorAll('.pay-link').forEach((a) => a.remove());
    } });
  });
  if (countdowns.length) {
    const tick = () => {
      countdowns.forEach((c) => {
        if (c.done) return;
        const left = Math.ceil((new Date(c.el.dataset.expiresAt).getTime() - Date.now()) / 1000);
        if (left <= 0) { c.done = true; c.over(); return; }
        c.el.textContent = c.text(left);
      });
    };
    setInterval(tick, 1000);
    tick();
  }

  // Prices are shown with two decimals once typed, as the original did,
  // but only by padding a plain amount ("20" → "20.00", "0.5" → "0.50").
  // Anything else stays as typed for the server to judge: parseFloat would
  // turn "1,000" into 1.00, and toFixed rounds in binary (0.495 → "0.49").
  const plainAmount = /^\s*(\d+)(?:\.(\d{0,2}))?\s*$/;
  document.querySelectorAll('[data-normalise-price]').forEach((input) => {
    input.addEventListener('blur', () => {
      const m = plainAmount.exec(input.value);
      if (m) input.value = m[1].replace(/^0+(?=\d)/, '') + '.' + ((m[2] || '') + '00').slice(0, 2);
    });
  });

  // $1,000,000.00, as the server formats prices.
  const usd = (p) => '$' + (Math.round(p * 100) / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  const badge = (status) => {
    const b = document.createElement('span');
    b.className = 'badge status-' + status;
    b.textContent = status;
    return b;
  };
  // A sold ticket stays sold: a late "reserved" never turns it back.
  const setStatus = (holder, status) => {
    const current = holder.querySelector('.badge');
    if (current && current.textContent === 'sold') return;
    holder.replaceChildren(badge(status));
  };

  const me = document.body.dataset.userId || '';

  // A ticket changed or was listed: update its row or its page.
  const onTicket = (t) => {
    document.querySelectorAll('tr[data-ticket-id="' + t.id + '"]').forEach((row) => {
      row.querySelectorAll('.ticket-status').forEach((s) => setStatus(s, t.status));
      if (t.title) row.querySelectorAll('.ticket-title').forEach((c) => { (c.querySelector('a') || c).textContent = t.title; });
      if (t.price) row.querySelectorAll('.ticket-price').forEach((c) => { c.textContent = usd(t.price); });
      if (t.status !== 'available') row.querySelectorAll('.edit-link').forEach((a) => a.remove());
    });
    const page = document.getElementById('ticket');
    if (page && page.dataset.ticketId === t.id) {
      page.querySelectorAll('.ticket-status').forEach((s) => setStatus(s, t.status));
      const purchase = document.getElementById('purchase');
      const unavailable = document.getElementById('unavailable');
      const sold = page.querySelector('.ticket-status .badge').textContent === 'sold';
      if (purchase) purchase.hidden = sold || t.status !== 'available';
      if (unavailable) unavailable.hidden = !(sold || t.status !== 'available');
    }
    // A new listing appears at the end of the last page of the list.
    const list = document.querySelector('#tickets tbody');
    const template = document.getElementById('ticket-row');
    if (list && template && t.title && !document.querySelector('tr[data-ticket-id="' + t.id + '"]')) {
      const row = template.content.firstElementChild.cloneNode(true);
      row.dataset.ticketId = t.id;
      row.dataset.sellerId = t.userId || '';
      row.querySelector('.ticket-title').textContent = t.title;
      row.querySelector('.ticket-price').textContent = usd(t.price);
      row.querySelector('.ticket-status').replaceChildren(badge(t.status));
      if (me && t.userId === me) {
        const yours = document.createElement('span');
        yours.className = 'badge text-bg-light border';
        yours.textContent = 'yours';
        row.querySelector('.ticket-status').after(' ', yours);
      }
      row.querySelector('a').href = '/tickets/' + encodeURIComponent(t.id);
      list.querySelectorAll('.no-tickets').forEach((r) => r.remove());
      list.appendChild(row);
    }
  };

  // One of the user's orders changed: its badge, and on its page what can
  // still be done with it.
  const onOrder = (o) => {
    const label = o.status + (o.refunded ? ', refunded' : '');
    document.querySelectorAll('tr[data-order-id="' + o.id + '"]').forEach((row) => {
      row.querySelectorAll('.order-status').forEach((b) => { b.className = 'badge status-' + o.status + ' order-status'; b.textContent = label; });
      if (o.status === 'complete' || o.status === 'cancelled') row.querySelectorAll('.countdown, .pay-link').forEach((e) => e.remove());
    });
    const page = document.getElementById('order');
    if (!page || page.dataset.orderId !== o.id) return;
    if (page.dataset.status === 'complete' && o.status !== 'complete') return; // complete is final
    page.dataset.status = o.status;
    const b = document.getElementById('order-status');
    b.className = 'badge status-' + o.status;
    b.textContent = o.status;
    if (o.status === 'complete' || o.status === 'cancelled') {
      const pay = document.getElementById('pay');
      if (pay) pay.remove();
      const when = o.status === 'cancelled' && o.refunded ? 'refunded' : o.status;
      page.querySelectorAll('[data-when]').forEach((d) => { d.hidden = d.dataset.when !== when; });
    }
  };

  // EventSource reconnects by itself (the server sends retry:); each
  // (re)connection starts with a snapshot of the page's order or ticket.
  const live = document.body.dataset.live;
  if (live && window.EventSource) {
    const source = new EventSource(live);
    const parse = (handle) => (event) => { try { handle(JSON.parse(event.data)); } catch (e) { /* ignore a bad event */ } };
    source.addEventListener('ticket', parse(onTicket));
    source.addEventListener('order', parse(onOrder));
    source.addEventListener('open', () => { document.body.dataset.liveOpen = 'true'; });
  }

  // The Stripe card element: tokenise the card, then pay through the API.
  const form = document.getElementById('stripe-form');
  if (form && window.Stripe) {
    const stripe = window.Stripe(form.dataset.stripeKey);
    const card = stripe.elements().create('card');
    card.mount('#card-element');
    const errors = document.getElementById('card-errors');
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const button = form.querySelector('button[type="submit"]');
      if (button.disabled) return; // one payment at a time
      button.disabled = true;
      errors.textContent = '';
      const { token, error } = await stripe.createToken(card);
      if (error) {
        errors.textContent = error.message;
        button.disabled = false;
        return;
      }
      const res = await fetch('/api/payments', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ token: token.id, orderId: form.dataset.orderId }),
      });
      if (res.ok) {
        window.location.assign('/orders/' + encodeURIComponent(form.dataset.orderId));
        return;
      }
      button.disabled = false;
      const body = await res.json().catch(() => ({}));
      errors.textContent = (body.errors || []).map((e) => e.message).join(' ') || 'Payment failed.';
    });
  }
})();
