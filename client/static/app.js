// Progressive enhancement only: every form works without this script.
(function () {
  'use strict';

  // "Time left to pay: N seconds", counting down to "Order Expired".
  const countdown = document.getElementById('countdown');
  if (countdown) {
    const expiresAt = new Date(countdown.dataset.expiresAt).getTime();
    const tick = () => {
      const left = Math.ceil((expiresAt - Date.now()) / 1000);
      if (left <= 0) {
        countdown.textContent = 'Order Expired';
        document.querySelectorAll('form[action$="/pay"], #stripe-form').forEach((f) => f.remove());
        clearInterval(timer);
        return;
      }
      countdown.textContent = 'Time left to pay: ' + left + ' seconds';
    };
    const timer = setInterval(tick, 1000);
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
        window.location.assign('/orders');
        return;
      }
      button.disabled = false;
      const body = await res.json().catch(() => ({}));
      errors.textContent = (body.errors || []).map((e) => e.message).join(' ') || 'Payment failed.';
    });
  }
})();
