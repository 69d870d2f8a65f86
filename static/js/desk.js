// Small touches on top of htmx; every page works without this file.
(function () {
  "use strict";

  // What only works without this file (the "Compute amount" button) hides while it runs.
  document.documentElement.classList.add("js");

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

  // "/" goes to Search from anywhere, as in the tools agents know, except while typing.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]:not([contenteditable='false'])")) return;
    const search = document.getElementById("id_q");
    if (!search) return;
    event.preventDefault();
    search.focus();
    search.select();
  });

  // An order opened from a search: focus on the first action of the first payment that has one
  // (a button or a field of a form in its card, not its history), so that the agent goes on
  // by keyboard without hunting for it.
  function focusFirstAction() {
    if (!document.querySelector("[data-focus-first-action]")) return;
    const controls = "form :is(input:not([type=hidden]), select, textarea, button):not([disabled])";
    for (const card of document.querySelectorAll("section.payment")) {
      const action = Array.from(card.querySelectorAll(controls)).find(function (control) {
        return !control.closest(".history") && control.getClientRects().length > 0;
      });
      if (action) {
        action.focus();
        return;
      }
    }
  }
  document.addEventListener("DOMContentLoaded", focusFirstAction);

  // Amounts as the agent types them, in their locale: the form carries the symbols the server
  // reads amounts with (babel's), and the approval limit the server worked out. Only forms the
  // server reads the same way are read here; anything else waits for the server's answer.
  function amountFormat(form) {
    const data = form.dataset;
    return {
      currency: data.currency,
      exponent: parseInt(data.exponent, 10),
      decimal: data.decimal,
      group: data.group,
      groups: data.groups,
      marks: (data.marks || "").split("|").filter(Boolean),  // longest first
    };
  }
  function escaped(text) { return text.replace(/[.*+?^${}()|[\]\\\-]/g, "\\$&"); }

  // Minor units (a BigInt: no floats for money) of a typed amount, or null.
  function toMinor(text, format) {
    let number = (text || "").trim();
    const folded = number.toLowerCase();
    for (const mark of format.marks) {
      const wanted = mark.toLowerCase();
      if (folded.startsWith(wanted)) { number = number.slice(mark.length).trim(); break; }
      if (folded.endsWith(wanted)) { number = number.slice(0, number.length - mark.length).trim(); break; }
    }
    const group = "[" + escaped(format.groups) + "]";
    const decimals = format.exponent ? "(?:" + escaped(format.decimal) + "([0-9]{1," + format.exponent + "}))?" : "";
    const match = new RegExp("^([0-9]+|[0-9]{1,3}(?:" + group + "[0-9]{3})+)" + decimals + "$").exec(number);
    if (!match) return null;
    // "1,234" is also 1.234 as written elsewhere: with three decimals, the server asks which.
    if (format.exponent >= 3 && /^[0-9]+[.,][0-9]{3}$/.test(number) && !number.includes(format.decimal)) return null;
    const minor = BigInt(match[1].replace(new RegExp(group, "g"), "") + (match[2] || "").padEnd(format.exponent, "0"));
    return minor > 0n && minor <= 10n ** 15n ? minor : null;
  }

  // Minor units as the agent types them: "1 234,50" in Norwegian.
  function typed(minor, format) {
    const digits = minor.toString().padStart(format.exponent + 1, "0");
    const whole = digits.slice(0, digits.length - format.exponent);
    const grouped = whole.replace(/\B(?=([0-9]{3})+(?![0-9]))/g, format.group);
    return format.exponent ? grouped + format.decimal + digits.slice(whole.length) : grouped;
  }

  // The amount the chosen items come to, as the server computes it: for each line, its share
  // of what is left of it (rounded down; the last units take the rest), plus the shipping.
  // null when no item is chosen.
  function itemsAmount(form) {
    let total = 0n;
    let chosen = false;
    form.querySelectorAll("input.quantity").forEach(function (input) {
      if (!/^[0-9]+$/.test(input.value.trim())) return;
      const quantity = BigInt(input.value.trim());
      const remaining = BigInt(input.dataset.remaining);
      const left = BigInt(input.dataset.remainingAmount);
      if (quantity === 0n || quantity > remaining) return;
      chosen = true;
      total += quantity === remaining ? left : left * quantity / remaining;
    });
    const shipping = form.querySelector("input[type=checkbox][data-amount]");
    if (shipping && shipping.checked) {
      chosen = true;
      total += BigInt(shipping.dataset.amount);
    }
    return chosen ? total : null;
  }

  // The button says what will happen: "Refund 40.00 EUR", or "Request approval" when the
  // amount is above the limit, and the approval hint shows.
  function describeRefund(form) {
    const input = form.querySelector("input[name$='-amount']");
    const button = form.querySelector("button.refund-submit");
    if (!input || !button || form.dataset.approvalAbove === undefined) return;
    const format = amountFormat(form);
    const amount = toMinor(input.value, format);
    const needsApproval = amount !== null && amount > BigInt(form.dataset.approvalAbove);
    button.querySelector(".idle").textContent = needsApproval ? "Request approval"
      : amount !== null ? "Refund " + typed(amount, format) + "\u00a0" + format.currency : "Refund";
    button.querySelector(".busy").textContent = needsApproval ? "Requesting approval…" : "Refunding…";
    const warning = form.querySelector(".needs-approval");
    if (warning) warning.hidden = !needsApproval;
  }

  function refundFormChanged(event) {
    const form = event.target.closest && event.target.closest("form.refund");
    if (!form) return;
    if (event.target.matches("input.quantity, input[type=checkbox][data-amount]")) {
      const amount = itemsAmount(form);
      form.querySelector("input[name$='-amount']").value = amount === null ? "" : typed(amount, amountFormat(form));
    }
    describeRefund(form);
  }
  document.addEventListener("input", refundFormChanged);
  document.addEventListener("change", refundFormChanged);

  // "Whole refundable amount" fills the field (without this, it asks the server for the form
  // filled in).
  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("button.whole");
    const form = button && button.closest("form.refund");
    if (!form) return;
    event.preventDefault();
    form.querySelector("input[name$='-amount']").value = form.dataset.whole;
    describeRefund(form);
  });

  function describeAll(root) {
    root.querySelectorAll("form.refund").forEach(describeRefund);
  }
  document.addEventListener("DOMContentLoaded", function () { describeAll(document); });
  document.addEventListener("htmx:afterSettle", function (event) { describeAll(event.target); });
})();
