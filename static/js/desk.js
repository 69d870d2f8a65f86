// Small touches on top of htmx; every page works without this file.
(function () {
  "use strict";

  // Say plainly when an htmx request fails, instead of silently doing nothing.
  const problems = {
    403: "You are not allowed to do that.",
    404: "That no longer exists. Reload the page to see the current state.",
  };
  function showProblem(text) {
    const box = document.getElementById("problem");
    if (!box) return;
    box.textContent = text;
    box.hidden = false;
  }
  document.addEventListener("htmx:responseError", function (event) {
    const status = event.detail.xhr.status;
    showProblem(problems[status] || "Something went wrong (error " + status + "). Reload the page to see the current state before trying again.");
  });
  document.addEventListener("htmx:sendError", function () {
    showProblem("The back office could not be reached. Check the connection, then reload the page.");
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    const box = document.getElementById("problem");
    if (box) box.hidden = true;
    // The region being replaced (a payment's card, an approval) is busy until its answer:
    // assistive technology waits for it instead of reading half a change.
    const target = event.detail.target;
    if (target && target.setAttribute) target.setAttribute("aria-busy", "true");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    // A swapped region is gone with its attribute; one left in place (an error) is free again.
    const target = event.detail.target;
    if (target && target.removeAttribute) target.removeAttribute("aria-busy");
  });

  // A swap replaces the button that started it, and focus would fall back to the page's start:
  // keyboard and screen reader users would lose their place. Move it to where the element that
  // asked says (data-focus-after: backing out of a confirmation returns to the button that
  // opened it), else to what the answer says: its notice (an outcome, a refusal), else the
  // first field in error.
  document.addEventListener("htmx:afterSettle", function (event) {
    const active = document.activeElement;
    if (active && active !== document.body) return;
    const region = event.target;
    if (!region || !region.querySelector) return;
    const source = event.detail.requestConfig && event.detail.requestConfig.elt;
    const wanted = source && source.dataset && source.dataset.focusAfter;
    const next = (wanted && region.querySelector(wanted)) ||
      region.querySelector(".notice[tabindex='-1'], .errors[tabindex='-1'], [aria-invalid='true']");
    if (next) next.focus();
  });

  // Escape backs out of a confirmation (of a cancel), as its "Keep the payment" link does.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    let confirm = event.target.closest && event.target.closest(".confirm");
    if (!confirm && event.target === document.body) {
      const open = document.querySelectorAll(".confirm");
      if (open.length === 1) confirm = open[0];
    }
    const dismiss = confirm && confirm.querySelector("[data-dismiss='confirm']");
    if (!dismiss) return;
    event.preventDefault();
    dismiss.click();
  });

  // Minor units of "12.50" as a BigInt (no floats for money), or null when it is not an amount.
  function toMinor(text, exponent) {
    const match = /^\s*([0-9]+)(?:\.([0-9]*))?\s*$/.exec(text || "");
    if (!match || (match[2] || "").length > exponent) return null;
    return BigInt(match[1] + (match[2] || "").padEnd(exponent, "0"));
  }

  // Tell the agent before submitting when a refund amount needs a manager's approval.
  function checkApproval(form) {
    const input = form.querySelector("input[name$='-amount']");
    const warning = form.querySelector(".needs-approval");
    if (!input || !warning) return;
    const exponent = parseInt(form.dataset.exponent, 10);
    const limit = toMinor(form.dataset.approvalAbove, exponent);
    const amount = toMinor(input.value, exponent);
    warning.hidden = !(limit !== null && amount !== null && amount > limit);
  }
  document.addEventListener("input", function (event) {
    const form = event.target.closest("form.refund");
    if (form) checkApproval(form);
  });
  function checkAll(root) {
    root.querySelectorAll("form.refund").forEach(checkApproval);
  }
  document.addEventListener("DOMContentLoaded", function () { checkAll(document); });
  document.addEventListener("htmx:afterSettle", function (event) { checkAll(event.target); });
})();
