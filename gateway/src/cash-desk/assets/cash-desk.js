/*
 * The cash desk page's script (served by the gateway from this origin; no library, no CDN).
 * Sends the chosen test card token to POST /cash-desk/:paymentId/pay and follows the payment's
 * status over graphql-ws (graphql-transport-ws protocol), authorised by the page's cash-desk
 * token. The status shown comes from the subscription: paying never reloads the page.
 */
/* global document, window, location */
'use strict';

(function cashDesk() {
  var config = JSON.parse(document.getElementById('cash-desk-config').textContent);
  var m = config.messages;
  var FINAL = { SUCCEEDED: true, FAILED: true, CANCELED: true };
  var QUERY =
    'subscription CashDeskStatus($paymentId: ID!) { paymentStatusChanged(paymentId: $paymentId) ' +
    '{ id status failureCode nextAction { kind url } } }';

  var el = {
    status: document.getElementById('status'),
    text: document.getElementById('status-text'),
    reason: document.getElementById('status-reason'),
    done: document.getElementById('status-done'),
    form: document.getElementById('pay-form'),
    pay: document.getElementById('pay'),
    action: document.getElementById('action'),
    actionLink: document.getElementById('action-link'),
    error: document.getElementById('error'),
  };

  var state = config.payment;
  var paying = false;
  var live = false;
  var finished = false;
  var socket = null;

  function httpUrl(value) {
    if (!value) return null;
    try {
      var u = new URL(value);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.toString() : null;
    } catch (e) {
      return null;
    }
  }

  function isCashDesk(action) {
    if (!action || action.kind !== 'REDIRECT' || !action.url) return false;
    try {
      return new URL(action.url).pathname === '/cash-desk/' + config.paymentId;
    } catch (e) {
      return false;
    }
  }

  /** A next action elsewhere: the PSP's authentication page, or a carrier's consent page. */
  function elsewhere(payment) {
    if (payment.status !== 'REQUIRES_ACTION' || isCashDesk(payment.nextAction)) return null;
    var action = payment.nextAction;
    return action && action.kind === 'REDIRECT' ? httpUrl(action.url) : null;
  }

  function showError(text) {
    el.error.textContent = text || '';
    el.error.hidden = !text;
  }

  function render(source) {
    var s = state.status;
    var away = elsewhere(state);
    el.status.setAttribute('data-status', s);
    el.status.setAttribute('data-source', source);
    el.text.textContent =
      s === 'REQUIRES_ACTION' && away && config.returning ? m.checking : m.status[s] || s;
    if (s === 'FAILED') {
      el.reason.textContent = m.reasons[state.failureCode] || m.reasons.OTHER;
      el.reason.hidden = false;
    } else {
      el.reason.textContent = '';
      el.reason.hidden = true;
    }
    el.done.hidden = !FINAL[s];
    el.form.hidden = !(s === 'REQUIRES_ACTION' && isCashDesk(state.nextAction));
    el.pay.disabled = paying;
    el.pay.textContent = paying ? m.paying : m.pay;
    if (away) {
      el.actionLink.href = away;
      el.actionLink.textContent = config.channelKind === 'CARD' ? m.authenticate : m.consent;
    }
    el.action.hidden = !away;
    if (FINAL[s]) showError('');
  }

  function apply(payment, source) {
    state = {
      status: payment.status,
      failureCode: payment.failureCode || null,
      nextAction: payment.nextAction || null,
    };
    render(source);
    if (FINAL[state.status]) {
      // Nothing will change any more: no need to keep the connection.
      finished = true;
      if (socket) socket.close(1000, 'final');
    }
  }

  // ------------------------------------------------------------------ live status (graphql-ws)

  var retryMs = 500;

  function follow() {
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql';
    var ws = new WebSocket(url, 'graphql-transport-ws');
    socket = ws;
    var send = function (message) {
      ws.send(JSON.stringify(message));
    };
    ws.onopen = function () {
      send({ type: 'connection_init', payload: { authorization: 'Bearer ' + config.token } });
    };
    ws.onmessage = function (event) {
      var msg;
      try {
        msg = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (msg.type === 'connection_ack') {
        retryMs = 500;
        send({
          id: 'status',
          type: 'subscribe',
          payload: { query: QUERY, variables: { paymentId: config.paymentId } },
        });
      } else if (msg.type === 'ping') {
        send({ type: 'pong' });
      } else if (msg.type === 'next' && msg.id === 'status') {
        var data = msg.payload && msg.payload.data;
        if (data && data.paymentStatusChanged) {
          live = true;
          if (el.error.textContent === m.reconnecting) showError('');
          apply(data.paymentStatusChanged, 'subscription');
        }
      } else if (msg.type === 'complete' || msg.type === 'error') {
        ws.close(1000, 'done');
      }
    };
    ws.onclose = function (event) {
      live = false;
      if (finished) return;
      if (event.code === 4403 || event.code === 4401) {
        // The link expired while the page was open.
        showError(m.expired);
        return;
      }
      showError(m.reconnecting);
      setTimeout(follow, retryMs);
      retryMs = Math.min(retryMs * 2, 10000);
    };
  }

  // ------------------------------------------------------------------------------------ paying

  el.form.addEventListener('submit', function (event) {
    event.preventDefault();
    if (paying) return;
    var choice = el.form.querySelector('input[name="cardToken"]:checked');
    if (!choice) return;
    paying = true;
    showError('');
    render(el.status.getAttribute('data-source'));
    fetch('/cash-desk/' + encodeURIComponent(config.paymentId) + '/pay', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ t: config.token, cardToken: choice.value }),
      credentials: 'omit',
      cache: 'no-store',
      redirect: 'error',
    })
      .then(function (res) {
        return res.json().then(
          function (body) {
            return { ok: res.ok, status: res.status, body: body };
          },
          function () {
            return { ok: false, status: res.status, body: null };
          },
        );
      })
      .then(function (answer) {
        paying = false;
        if (!answer.ok) {
          showError(
            answer.status === 401 ? m.expired : answer.status === 409 ? m.notWaiting : m.payError,
          );
          render(el.status.getAttribute('data-source'));
          return;
        }
        var payment = answer.body.payment;
        var away = elsewhere(payment);
        if (away && config.channelKind === 'CARD') {
          // 3-D Secure: the PSP's page, which sends the player back here when done.
          window.location.assign(away);
          return;
        }
        // The subscription pushes every change; the answer is only a fallback without it.
        if (!live) apply(payment, 'response');
        else render(el.status.getAttribute('data-source'));
      })
      .catch(function () {
        paying = false;
        showError(m.payError);
        render(el.status.getAttribute('data-source'));
      });
  });

  render('page');
  if (!FINAL[state.status]) follow();
})();
