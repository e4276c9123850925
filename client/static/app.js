// Progressive enhancement only: every page and form works without this
// script. It counts down the time left to pay, pads typed prices, drives
// the Stripe card element, and applies live updates (Server-Sent Events
// from /live) to what the page already shows.
(function () {
  'use strict';

  const mmss = (s) => Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
  // The countdown in whole minutes, for screen readers (format.go's timeLeft).
  const timeLeft = (s) => {
    const m = Math.floor(s / 60);
    if (s <= 0) return 'Time to pay is up';
    if (m === 0) return 'Less than a minute left to pay';
    return m === 1 ? '1 minute left to pay' : m + ' minutes left to pay';
  };

  const badge = (state, label) => {
    const b = document.createElement('span');
    b.className = 'badge status-' + state;
    b.dataset.state = state;
    b.textContent = label;
    return b;
  };
  const flash = () => document.querySelectorAll('#flash').forEach((f) => f.remove());

  // The order page: what became of the order, one alert at a time, and
  // nothing left to do once it is no longer awaiting payment. A flash of
  // the last form ("reserved, pay before…") no longer holds either.
  const orderPage = document.getElementById('order');
  const showOrderState = (state, label) => {
    if (!orderPage || orderPage.dataset.state === state) return;
    if (orderPage.dataset.state === 'paid') return; // paid is final
    orderPage.dataset.state = state;
    const status = document.getElementById('order-status');
    status.className = 'badge status-' + state;
    status.dataset.state = state;
    status.textContent = label;
    orderPage.querySelectorAll('[data-when]').forEach((d) => { d.hidden = d.dataset.when !== state; });
    if (state !== 'awaiting') {
      const pay = document.getElementById('pay');
      if (pay) pay.remove();
      flash();
    }
  };

  // A row of My Orders that is no longer awaiting payment: no countdown, no Pay.
  const showRowState = (row, state, label) => {
    row.querySelectorAll('.order-status').forEach((s) => s.replaceChildren(badge(state, label)));
    if (state !== 'awaiting') row.querySelectorAll('.countdown, .pay-link').forEach((e) => e.remove());
  };

  // "Time left to pay: m:ss" on an order, and "m:ss left" in My Orders,
  // until the time is up: then the order is expired, as a reload says.
  const countdowns = [];
  const countdown = document.getElementById('countdown');
  const say = document.getElementById('countdown-say');
  if (countdown && orderPage) {
    countdowns.push({ el: countdown, show: (left) => {
      countdown.textContent = 'Time left to pay: ' + mmss(left);
      const words = timeLeft(left);
      if (say && say.textContent !== words) say.textContent = words; // a live region speaks on change only
    }, over: () => showOrderState('expired', orderPage.dataset.expiredLabel) });
  }
  const watchRow = (el) => {
    countdowns.push({ el, show: (left) => { el.textContent = mmss(left) + ' left'; }, over: () => {
      const row = el.closest('tr');
      const table = el.closest('table');
      if (row && table) showRowState(row, 'expired', table.dataset.expiredLabel);
    } });
  };
  document.querySelectorAll('.countdown').forEach(watchRow);
  const tickAll = () => {
    countdowns.forEach((c) => {
      if (c.done) return;
      const left = Math.ceil((new Date(c.el.dataset.expiresAt).getTime() - Date.now()) / 1000);
      if (!(left > 0)) { c.done = true; c.over(); return; }
      c.show(left);
    });
  };
  setInterval(tickAll, 1000);
  tickAll();

  // Prices are shown with two decimals once typed, as the original did,
  // but only by padding a plain amount ("20" → "20.00", "0.5" → "0.50").
  // Anything else stays as typed for the form to refuse: parseFloat would
  // turn "1,000" into 1.00, and toFixed rounds in binary (0.495 → "0.49").
  const plainAmount = /^\s*(\d+)(?:\.(\d{0,2}))?\s*$/;
  document.querySelectorAll('[data-normalise-price]').forEach((input) => {
    input.addEventListener('blur', () => {
      const m = plainAmount.exec(input.value);
      if (m) input.value = m[1].replace(/^0+(?=\d)/, '') + '.' + ((m[2] || '') + '00').slice(0, 2);
    });
  });

  const me = document.body.dataset.userId || '';

  // A sold ticket stays sold: a late "reserved" never turns it back.
  const setStatus = (holder, t) => {
    const current = holder.querySelector('.badge');
    if (current && current.dataset.state === 'sold') return 'sold';
    holder.replaceChildren(badge(t.status, t.label));
    return t.status;
  };

  // A ticket changed: its rows and its page. Edit shows while the seller
  // may edit it (available), Purchase while anyone may buy it.
  const onTicket = (t) => {
    document.querySelectorAll('tr[data-ticket-id="' + t.id + '"]').forEach((row) => {
      let state = t.status;
      row.querySelectorAll('.ticket-status').forEach((s) => { state = setStatus(s, t); });
      if (t.title) row.querySelectorAll('.ticket-title').forEach((c) => { (c.querySelector('a') || c).textContent = t.title; });
      if (t.priceText) row.querySelectorAll('.ticket-price').forEach((c) => { c.textContent = t.priceText; });
      row.querySelectorAll('.edit-link').forEach((a) => { a.hidden = state !== 'available'; });
    });
    const page = document.getElementById('ticket');
    if (page && page.dataset.ticketId === t.id) {
      let state = t.status;
      page.querySelectorAll('.ticket-status').forEach((s) => { state = setStatus(s, t); });
      const purchase = document.getElementById('purchase');
      const unavailable = document.getElementById('unavailable');
      if (purchase) purchase.hidden = state !== 'available';
      if (unavailable) unavailable.hidden = state === 'available';
      page.querySelectorAll('.edit-link').forEach((a) => { a.hidden = state !== 'available'; });
    }
  };

  // A ticket listed that belongs on this page (the server checked the
  // page's filters): it goes on top, newest first.
  const onListed = (t) => {
    const list = document.querySelector('table.list tbody');
    const template = document.getElementById('ticket-row');
    if (!list || !template || document.querySelector('tr[data-ticket-id="' + t.id + '"]')) return onTicket(t);
    const row = template.content.firstElementChild.cloneNode(true);
    row.dataset.ticketId = t.id;
    row.dataset.sellerId = t.userId || '';
    const title = row.querySelector('.ticket-title');
    (title.querySelector('a') || title).textContent = t.title;
    row.querySelector('.ticket-price').textContent = t.priceText || '';
    row.querySelector('.ticket-status').replaceChildren(badge(t.status, t.label));
    row.querySelectorAll('.ticket-link').forEach((a) => { a.href = '/tickets/' + encodeURIComponent(t.id); });
    row.querySelectorAll('.edit-link').forEach((a) => {
      a.href = '/tickets/' + encodeURIComponent(t.id) + '/edit';
      a.hidden = t.status !== 'available';
    });
    row.querySelectorAll('.yours').forEach((y) => { y.hidden = !(me && t.userId === me); });
    list.querySelectorAll('.no-tickets').forEach((r) => r.remove());
    list.prepend(row);
  };

  // One of the user's orders changed: its row, and its page.
  const onOrder = (o) => {
    document.querySelectorAll('tr[data-order-id="' + o.id + '"]').forEach((row) => showRowState(row, o.state, o.label));
    if (orderPage && orderPage.dataset.orderId === o.id) showOrderState(o.state, o.label);
  };

  // The user ordered a ticket (in this tab or another): My Orders shows
  // it on top.
  const onOrdered = (o) => {
    const list = document.querySelector('#orders tbody');
    const template = document.getElementById('order-row');
    if (!list || !template || document.querySelector('tr[data-order-id="' + o.id + '"]')) return onOrder(o);
    const row = template.content.firstElementChild.cloneNode(true);
    const href = '/orders/' + encodeURIComponent(o.id);
    row.dataset.orderId = o.id;
    const link = row.querySelector('.order-link');
    link.href = href;
    link.textContent = o.title || '(ticket unavailable)';
    row.querySelector('.ticket-price').textContent = o.priceText || '';
    const time = row.querySelector('time');
    if (o.created) { time.dateTime = o.created; time.textContent = o.createdText; } else time.remove();
    row.querySelector('.order-status').replaceChildren(badge(o.state, o.label));
    const cd = row.querySelector('.countdown');
    row.querySelectorAll('.pay-link').forEach((a) => { a.href = href; });
    list.querySelectorAll('.no-orders').forEach((r) => r.remove());
    list.prepend(row);
    if (o.state === 'awaiting' && o.expiresAt) {
      cd.dataset.expiresAt = o.expiresAt;
      watchRow(cd);
      tickAll();
    } else showRowState(row, o.state, o.label);
  };

  // EventSource reconnects by itself (the server sends retry:); each
  // (re)connection starts with a snapshot of the page's order or ticket.
  const live = document.body.dataset.live;
  if (live && window.EventSource) {
    const source = new EventSource(live);
    const parse = (handle) => (event) => { try { handle(JSON.parse(event.data)); } catch (e) { /* ignore a bad event */ } };
    source.addEventListener('ticket', parse(onTicket));
    source.addEventListener('listed', parse(onListed));
    source.addEventListener('order', parse(onOrder));
    source.addEventListener('ordered', parse(onOrdered));
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
