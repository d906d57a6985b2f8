/*!
 * Clinic chat widget for the ketamine-therapy decision aid (Rasa REST channel).
 * Plain JavaScript, no dependencies, no build step. Embed with ONE tag:
 *
 *   <script src="https://your-site.example/widget/widget.js" defer
 *           data-server="https://bot.your-site.example"
 *           data-clinic-name="..." data-clinic-phone="..." data-clinic-hours="..."></script>
 *
 * The clinic's name, phone and hours are the clinic profile's (the clinic_*
 * slots in domain.yml): `python -m bot.widget_server --print-embed` prints this
 * tag filled in. See widget/README.md for every data attribute.
 *
 * Page-safety rules this file keeps:
 * - every text from the server or the visitor goes into the page with
 *   textContent / createTextNode, never innerHTML;
 * - links are built only from http, https, tel and sms URLs, and open with
 *   rel="noopener noreferrer";
 * - the only network requests are to the configured server (and the widget's
 *   own stylesheet, next to this file). No images, fonts or scripts from the
 *   server's replies are loaded.
 *
 * Languages: English and Spanish. Every interface text is in the STRINGS
 * table below (fixed, never translated at run time). data-lang="es" (else the
 * page's <html lang>) sets the starting language, the EN/ES switch in the
 * header changes it, every message carries it to the bot as
 * metadata.language, and the widget follows the language the bot answers in.
 * Each message gets the lang attribute of the language it is written in.
 *
 * Privacy: a notice before the first message says what the clinic keeps and
 * for how long; "Delete this conversation" deletes it on the server
 * (DELETE /webhooks/rest/conversations/<id>) and in the browser, and "Start
 * over" deletes the old conversation too (retried later if the server could
 * not be reached).
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.__kaidWidget) {
    return;
  }
  window.__kaidWidget = true;

  // ---------------------------------------------------------------- strings
  // Every interface text, in English and Spanish: ONE table, fixed and
  // reviewed (nothing is translated at run time). {name} is filled in by t().
  // Both languages must have the same keys (tests/browser/test_widget_unit.py).
  // Spanish: plain, short, informal "tu"; 988 and 911 written as numbers.
  // Letters beyond ASCII are \u escapes, so the file reads the same whatever
  // charset a clinic's server sends it with.
  var STRINGS = {
    en: {
      languageName: "English",
      languageGroup: "Language",
      languageChanged: "The chat is now in English.",
      ourClinic: "our clinic",
      title: "{clinic} assistant",
      launcher: "Questions? Chat with us",
      greeting: "Hi! Ask me a question about ketamine treatment, or pick a topic below.",
      suggestions: "How does IV ketamine work?|What are the side effects of ketamine?|" +
        "Does insurance cover ketamine treatment?|Compare my options",
      close: "Close chat",
      subtitle: "Automated assistant \u00b7 not medical advice",
      expand: "Expand",
      shrink: "Shrink",
      expandTitle: "Make the chat window bigger",
      restart: "Start over",
      restartTitle: "Clear this conversation and start a new one",
      crisisHelp: "Crisis help",
      crisisBar: "In crisis? Call or text 988",
      call988: "Call 988",
      text988: "Text 988",
      call911: "Call 911",
      crisisHeading: "Help is available right now",
      conversation: "Conversation",
      beforeYouStart: "Before you start",
      disclaimer: "This is an automated assistant, not a person. It shares general, educational " +
        "information. It is not medical advice. For questions about your own health, talk " +
        "with your clinician.",
      emergencyStart: "This chat is not for emergencies. In crisis? Call or text 988 (",
      emergencyCall: "call",
      emergencyText: "text",
      emergencyEnd: "). In an emergency, call 911.",
      privacy: "{clinic} keeps this chat (what you type and the answers) on its server for " +
        "{days}. Then it is deleted. Please do not type your name or other personal details. " +
        "To delete the chat now, use \u201c{delete}\u201d at the bottom.",
      oneDay: "1 day",
      days: "{n} days",
      inputLabel: "Type your question",
      placeholder: "Type your question\u2026",
      inputHint: "Press Enter to send, Shift and Enter for a new line. Press Escape to close the chat.",
      send: "Send",
      deleteButton: "Delete this conversation",
      deleteTitle: "Delete this conversation from this device and from the clinic's server",
      youSaid: "You said: ",
      assistant: "Assistant: ",
      newTab: " (opens in a new tab)",
      sources: "Sources: {list}.",
      reviewed: "Last reviewed {date}.",
      date: "{month} {day}, {year}",
      months: ["January", "February", "March", "April", "May", "June", "July", "August",
        "September", "October", "November", "December"],
      showAsText: "Show as text",
      topic: "Topic",
      column: "Column {n}",
      copyList: "Copy this list",
      copied: "Copied",
      copySelect: "Select the text to copy it",
      copiedSaid: "Copied to the clipboard.",
      copyFailedSaid: "Copying did not work. Select the text to copy it.",
      suggestedReplies: "Suggested replies",
      question: "Question {step} of {steps}",
      tableSaid: "A table{title}, with {rows}, is in the conversation.",
      tableTitle: ", {title}",
      oneRow: "1 row",
      rows: "{n} rows",
      oneSuggestion: "1 suggested reply.",
      suggestionsSaid: "{n} suggested replies.",
      typing: "The assistant is typing.",
      offlineTitle: "Sorry, the assistant can't be reached right now.",
      offlineCall: "Please try again, or call {clinic}",
      offlineAt: " at ",
      // The same sentence the bot's own error reply ends with (system_messages.yml).
      offlineCrisis: "If you are in crisis, call or text 988. In an emergency, call 911.",
      offlineSaid: "Sorry, the assistant can't be reached right now. Please try again, or call " +
        "{clinic}{phone}. If you are in crisis, call or text 988.",
      offlinePhone: " at {phone}{hours}",
      retry: "Try again",
      cleared: "The conversation was cleared. You can start a new one.",
      deleteFailed: "Sorry, the conversation could not be deleted right now.",
      deleteFailedMore: "It is still on this device and on the clinic's server. Please try again.",
      deleteFailedSaid: "Sorry, the conversation could not be deleted right now. Please try again.",
      deleted: "Your conversation was deleted from this device and from the clinic's server.",
      deletedSaid: "Your conversation was deleted.",
    },
    es: {
      languageName: "Espa\u00f1ol",
      languageGroup: "Idioma",
      languageChanged: "El chat ahora est\u00e1 en espa\u00f1ol.",
      ourClinic: "nuestra cl\u00ednica",
      title: "Asistente de {clinic}",
      launcher: "\u00bfPreguntas? Chatea con nosotros",
      greeting: "\u00a1Hola! Hazme una pregunta sobre el tratamiento con ketamina o elige un " +
        "tema abajo.",
      suggestions: "\u00bfC\u00f3mo funciona la ketamina IV?|\u00bfCu\u00e1les son los efectos " +
        "secundarios de la ketamina?|\u00bfEl seguro cubre la ketamina?|Comparar mis opciones",
      close: "Cerrar el chat",
      subtitle: "Asistente autom\u00e1tico \u00b7 no es consejo m\u00e9dico",
      expand: "Agrandar",
      shrink: "Reducir",
      expandTitle: "Hacer m\u00e1s grande la ventana del chat",
      restart: "Empezar de nuevo",
      restartTitle: "Borrar esta conversaci\u00f3n y empezar una nueva",
      crisisHelp: "Ayuda en crisis",
      crisisBar: "\u00bfEn crisis? Llama o env\u00eda un mensaje de texto al 988",
      call988: "Llamar al 988",
      text988: "Mensaje al 988",
      call911: "Llamar al 911",
      crisisHeading: "Hay ayuda ahora mismo",
      conversation: "Conversaci\u00f3n",
      beforeYouStart: "Antes de empezar",
      disclaimer: "Este es un asistente autom\u00e1tico, no una persona. Da informaci\u00f3n " +
        "general y educativa. No es consejo m\u00e9dico. Si tienes preguntas sobre tu propia " +
        "salud, habla con tu m\u00e9dico.",
      emergencyStart: "Este chat no es para emergencias. \u00bfEn crisis? Llama o env\u00eda un " +
        "mensaje de texto al 988 (",
      emergencyCall: "llamar",
      emergencyText: "mensaje",
      emergencyEnd: "). En una emergencia, llama al 911.",
      privacy: "{clinic} guarda este chat (lo que escribes y las respuestas) en su servidor " +
        "durante {days}. Despu\u00e9s se borra. Por favor, no escribas tu nombre ni otros datos " +
        "personales. Para borrar el chat ahora, usa \u201c{delete}\u201d abajo.",
      oneDay: "1 d\u00eda",
      days: "{n} d\u00edas",
      inputLabel: "Escribe tu pregunta",
      placeholder: "Escribe tu pregunta\u2026",
      inputHint: "Pulsa Enter para enviar, y May\u00fascula y Enter para una l\u00ednea nueva. " +
        "Pulsa Escape para cerrar el chat.",
      send: "Enviar",
      deleteButton: "Borrar esta conversaci\u00f3n",
      deleteTitle: "Borrar esta conversaci\u00f3n de este dispositivo y del servidor de la " +
        "cl\u00ednica",
      youSaid: "T\u00fa dijiste: ",
      assistant: "Asistente: ",
      newTab: " (se abre en una pesta\u00f1a nueva)",
      sources: "Fuentes: {list}.",
      reviewed: "\u00daltima revisi\u00f3n: {date}.",
      date: "{day} de {month} de {year}",
      months: ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
        "septiembre", "octubre", "noviembre", "diciembre"],
      showAsText: "Ver como texto",
      topic: "Tema",
      column: "Columna {n}",
      copyList: "Copiar esta lista",
      copied: "Copiada",
      copySelect: "Selecciona el texto para copiarlo",
      copiedSaid: "Se copi\u00f3 al portapapeles.",
      copyFailedSaid: "No se pudo copiar. Selecciona el texto para copiarlo.",
      suggestedReplies: "Respuestas sugeridas",
      question: "Pregunta {step} de {steps}",
      tableSaid: "Hay una tabla{title} con {rows} en la conversaci\u00f3n.",
      tableTitle: ", {title},",
      oneRow: "1 fila",
      rows: "{n} filas",
      oneSuggestion: "1 respuesta sugerida.",
      suggestionsSaid: "{n} respuestas sugeridas.",
      typing: "El asistente est\u00e1 escribiendo.",
      offlineTitle: "Lo siento, el asistente no est\u00e1 disponible ahora.",
      offlineCall: "Intenta de nuevo o llama a {clinic}",
      offlineAt: " al ",
      // The same sentence the bot's own Spanish error reply ends with.
      offlineCrisis: "Si est\u00e1s en crisis, llama al 988 (marca 2 para espa\u00f1ol) o " +
        "env\u00eda un mensaje de texto al 988. En una emergencia, llama al 911.",
      offlineSaid: "Lo siento, el asistente no est\u00e1 disponible ahora. Intenta de nuevo o " +
        "llama a {clinic}{phone}. Si est\u00e1s en crisis, llama o env\u00eda un mensaje de " +
        "texto al 988.",
      offlinePhone: " al {phone}{hours}",
      retry: "Intentar de nuevo",
      cleared: "Se borr\u00f3 la conversaci\u00f3n. Puedes empezar una nueva.",
      deleteFailed: "Lo siento, ahora no se pudo borrar la conversaci\u00f3n.",
      deleteFailedMore: "Todav\u00eda est\u00e1 en este dispositivo y en el servidor de la " +
        "cl\u00ednica. Intenta de nuevo.",
      deleteFailedSaid: "Lo siento, ahora no se pudo borrar la conversaci\u00f3n. Intenta de nuevo.",
      deleted: "Tu conversaci\u00f3n se borr\u00f3 de este dispositivo y del servidor de la " +
        "cl\u00ednica.",
      deletedSaid: "Tu conversaci\u00f3n se borr\u00f3.",
    },
  };

  // ---------------------------------------------------------------- config
  function attr(name, fallback) {
    var value = script.getAttribute("data-" + name);
    return value === null || value.trim() === "" ? fallback : value.trim();
  }

  /** "es", "es-MX", "ES" -> "es"; anything but English or Spanish -> null. */
  function normLang(value) {
    var code = String(value || "").trim().toLowerCase().split(/[-_]/)[0];
    return code && Object.prototype.hasOwnProperty.call(STRINGS, code) ? code : null;
  }

  // The page's language: data-lang on the script tag, else the page's own
  // <html lang>, else English. The visitor's choice (the EN/ES switch, or the
  // language the conversation is in) is kept with the conversation and wins.
  var pageLang = normLang(attr("lang", "")) ||
    normLang(document.documentElement && document.documentElement.getAttribute("lang")) || "en";

  /**
   * A text the clinic may set (greeting, title...) in one language:
   * data-<name>-<lang> first, then data-<name> (written in the page's
   * language, so used for that language only), then the widget's own text.
   */
  function textAttr(name, lang) {
    return attr(name + "-" + lang, "") || (lang === pageLang ? attr(name, "") : "");
  }

  var DEFAULT_COLOR = "#0b5cab";
  var clinicPhone = attr("clinic-phone", "");
  var config = {
    server: parseServer(attr("server", "")),
    clinicPhone: clinicPhone,
    color: attr("color", DEFAULT_COLOR),
    textColor: attr("text-color", ""),
    position: attr("position", "right") === "left" ? "left" : "right",
    storage: attr("storage", "session") === "local" ? "local" : "session",
    css: attr("css", ""),
    timeoutMs: clampInt(attr("timeout", "30"), 5, 120, 30) * 1000,
    // Must match retention_days in the bot's endpoints.yml (the notice says it).
    retentionDays: clampInt(attr("retention-days", "30"), 1, 3650, 30),
  };

  // The clinic's name and hours are facts: data-clinic-name-<lang> /
  // data-clinic-hours-<lang> when given, else the one value in the page's
  // language (hours in another language beat no hours).
  function clinicName(lang) {
    return attr("clinic-name-" + lang, "") || attr("clinic-name", "") || t("ourClinic", null, lang);
  }

  /** [hours, the language they are written in] for the offline notice. */
  function clinicHours(lang) {
    var own = attr("clinic-hours-" + lang, "");
    return own ? [own, lang] : [attr("clinic-hours", ""), pageLang];
  }

  function titleText(lang) {
    return textAttr("title", lang) || t("title", { clinic: clinicName(lang) }, lang);
  }

  function launcherText(lang) {
    return textAttr("launcher-label", lang) || t("launcher", null, lang);
  }

  function greetingText(lang) {
    return textAttr("greeting", lang) || t("greeting", null, lang);
  }

  function suggestionList(lang) {
    return splitList(textAttr("suggestions", lang) || t("suggestions", null, lang));
  }

  /** The interface text `key` in `lang` (default: the widget's language), {name}s filled in. */
  function t(key, vars, lang) {
    var table = STRINGS[lang || uiLang] || STRINGS.en;
    var text = Object.prototype.hasOwnProperty.call(table, key) ? table[key] : STRINGS.en[key];
    if (typeof text !== "string" || !vars) return text;
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : whole;
    });
  }

  function capitalize(text) {
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function parseServer(raw) {
    if (!raw) return null;
    try {
      var url = new URL(raw, window.location.href);
      if (url.protocol !== "http:" && url.protocol !== "https:") return null;
      return url.origin + url.pathname.replace(/\/+$/, "");
    } catch (e) {
      return null;
    }
  }

  function splitList(raw) {
    return raw
      .split("|")
      .map(function (s) { return s.trim(); })
      .filter(function (s) { return s.length > 0; })
      .slice(0, 6);
  }

  function clampInt(raw, lo, hi, fallback) {
    var n = parseInt(raw, 10);
    if (isNaN(n)) return fallback;
    return Math.min(hi, Math.max(lo, n));
  }

  var WEBHOOK = config.server ? config.server + "/webhooks/rest/webhook" : null;
  var CONVERSATIONS = config.server ? config.server + "/webhooks/rest/conversations/" : null;
  var MAX_PENDING_DELETES = 10;
  var STORE_KEY = "kaid:v1:" + (config.server || "none");
  var MAX_HISTORY = 200;
  var MAX_TEXT = 5000;
  var INPUT_MAX = 1000;

  // ---------------------------------------------------------------- colours
  // The configured colour is used for the header, the launcher and the
  // visitor's bubbles. Text on it is white or near-black, whichever contrasts
  // more (always >= 4.5:1); accent-coloured text on white is darkened until
  // it reaches 4.5:1.
  function parseHex(hex) {
    var m = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(hex || "");
    if (!m) return null;
    var h = m[1];
    if (h.length === 3) h = h[0] + h[0] + h[1] + h[1] + h[2] + h[2];
    return [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
  }

  function toHex(rgb) {
    return "#" + rgb.map(function (c) {
      var s = Math.round(c).toString(16);
      return s.length === 1 ? "0" + s : s;
    }).join("");
  }

  function luminance(rgb) {
    var c = rgb.map(function (v) {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }

  function contrast(a, b) {
    var la = luminance(a), lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }

  var WHITE = [255, 255, 255];
  var INK = [17, 17, 17];

  function palette() {
    var accent = parseHex(config.color) || parseHex(DEFAULT_COLOR);
    var onAccent = contrast(accent, WHITE) >= contrast(accent, INK) ? WHITE : INK;
    var wanted = parseHex(config.textColor);
    if (wanted && contrast(accent, wanted) >= 4.5) onAccent = wanted;
    var ink = accent.slice();
    for (var i = 0; i < 20 && contrast(ink, WHITE) < 4.5; i++) {
      ink = ink.map(function (c) { return c * 0.85; });
    }
    return { accent: toHex(accent), onAccent: toHex(onAccent), accentInk: toHex(ink) };
  }

  // ---------------------------------------------------------------- storage
  var memoryStore = {};
  var store = (function () {
    try {
      var s = config.storage === "local" ? window.localStorage : window.sessionStorage;
      var probe = "kaid:probe";
      s.setItem(probe, "1");
      s.removeItem(probe);
      return s;
    } catch (e) {
      return null;
    }
  })();

  function loadState() {
    var raw = null;
    try {
      raw = store ? store.getItem(STORE_KEY) : memoryStore[STORE_KEY];
    } catch (e) { raw = null; }
    var state = null;
    try { state = raw ? JSON.parse(raw) : null; } catch (e) { state = null; }
    if (!state || typeof state !== "object" || typeof state.sender !== "string" ||
        !Array.isArray(state.messages)) {
      state = { sender: newSenderId(), messages: [], open: false };
    }
    state.messages = state.messages.filter(isStoredMessage).slice(-MAX_HISTORY);
    // Old conversations whose deletion on the server has not been confirmed yet.
    state.pendingDeletes = Array.isArray(state.pendingDeletes) ?
      state.pendingDeletes.filter(function (id) { return typeof id === "string"; })
        .slice(-MAX_PENDING_DELETES) : [];
    return state;
  }

  function saveState() {
    state.messages = state.messages.slice(-MAX_HISTORY);
    var raw = JSON.stringify(state);
    try {
      if (store) store.setItem(STORE_KEY, raw);
      else memoryStore[STORE_KEY] = raw;
    } catch (e) { /* quota or privacy mode: the conversation still works */ }
  }

  function isStoredMessage(m) {
    return m && typeof m === "object" && (m.role === "user" || m.role === "bot");
  }

  function newSenderId() {
    var c = window.crypto || window.msCrypto;
    if (c && typeof c.randomUUID === "function") return "web-" + c.randomUUID();
    var bytes = new Uint8Array(16);
    if (c && c.getRandomValues) {
      c.getRandomValues(bytes);
    } else {
      for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    return "web-" + Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // ---------------------------------------------------------------- links
  var SAFE_PROTOCOLS = { "http:": true, "https:": true, "tel:": true, "sms:": true };

  /** Returns a safe absolute href, or null for anything but http/https/tel/sms. */
  function safeHref(raw) {
    if (typeof raw !== "string") return null;
    var trimmed = raw.trim();
    if (!trimmed) return null;
    var url;
    try {
      url = new URL(trimmed);
    } catch (e) {
      return null;
    }
    return SAFE_PROTOCOLS[url.protocol] ? url.href : null;
  }

  function telHref(phone) {
    var digits = String(phone || "").replace(/[^\d+]/g, "");
    return digits.replace(/\D/g, "").length >= 3 ? "tel:" + digits : null;
  }

  /** A safe link; web links get a hidden "(opens in a new tab)" in `lang`. */
  function link(href, text, extraClass, lang) {
    var safe = safeHref(href);
    if (!safe) return document.createTextNode(text);
    var a = document.createElement("a");
    a.href = safe;
    a.rel = "noopener noreferrer";
    a.className = "kaid-link" + (extraClass ? " " + extraClass : "");
    a.textContent = text;
    if (/^https?:/i.test(safe)) {
      a.target = "_blank";
      var hint = document.createElement("span");
      hint.className = "kaid-sr";
      hint.textContent = t("newTab", null, lang);
      a.appendChild(hint);
    }
    return a;
  }

  function escapeRegExp(s) {
    return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }

  // URLs, the 988 Lifeline site, Poison Help's number and the clinic's phone.
  var linkPatterns = [
    "\\bhttps?:\\/\\/[^\\s<>\"'`]+",
    "\\b988lifeline\\.org(?:\\/[^\\s<>\"'`]*)?",
    "\\b1-800-222-1222\\b",
  ];
  if (config.clinicPhone && config.clinicPhone.replace(/\D/g, "").length >= 3) {
    linkPatterns.push(escapeRegExp(config.clinicPhone));
  }
  var LINK_RE = new RegExp(linkPatterns.join("|"), "gi");

  function hrefForMatch(match) {
    if (/^https?:\/\//i.test(match)) return match;
    if (/^988lifeline\.org/i.test(match)) return "https://" + match;
    return telHref(match);
  }

  /** Appends text (in `lang`) with URLs and phone numbers turned into safe links. */
  function appendRichText(parent, text, lang) {
    LINK_RE.lastIndex = 0;
    var last = 0;
    var m;
    while ((m = LINK_RE.exec(text)) !== null) {
      var match = m[0];
      var trail = /[.,;:!?)\]]+$/.exec(match);
      if (trail && /^https?:|^988/i.test(match)) {
        match = match.slice(0, -trail[0].length);
      }
      if (!match) { LINK_RE.lastIndex = m.index + 1; continue; }
      parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      parent.appendChild(link(hrefForMatch(match), match, null, lang));
      last = m.index + match.length;
      LINK_RE.lastIndex = last;
    }
    parent.appendChild(document.createTextNode(text.slice(last)));
  }

  // ---------------------------------------------------------------- crisis
  /**
   * The bot marks its crisis reply (domain response utter_crisis: English,
   * Spanish and their 911-first emergency variants) with the payload
   * {type: "crisis"}, and the widget shows a reply so marked as the crisis card.
   * A reply without the mark (a conversation restored from this browser's
   * storage, saved before the mark existed) is recognised by its text: the
   * crisis reply is the one reply that names 988, 911 and Poison Help
   * (1-800-222-1222). The check-in and the "I don't want to call" reply name
   * 988 and 911 too, but not Poison Help, so they stay ordinary messages.
   * tests/browser/test_widget_unit.py checks both against every reviewed reply.
   */
  function isCrisisText(text) {
    if (typeof text !== "string") return false;
    var t = text.toLowerCase();
    return t.indexOf("988") !== -1 && t.indexOf("911") !== -1 && t.indexOf("1-800-222-1222") !== -1;
  }

  // ---------------------------------------------------------------- language of a text
  /*
   * Which language a reply (or the visitor's message) is written in, so its
   * bubble gets the right lang attribute and the widget follows the
   * conversation. A tiny heuristic, enough for the bot's fixed texts: Spanish
   * marks (an inverted ? or !, n with tilde, accented vowels inside a word,
   * -cion endings) and common function words of each language are counted;
   * the larger count wins, a tie (short or neutral text: "OK", "Spravato")
   * says nothing (null) and the widget's language is used instead.
   * tests/browser/test_widget_unit.py checks it against every reviewed reply
   * and decision-aid text in both languages: none is read wrongly.
   */
  var WORDS = {
    es: ("el la los las un una unos unas y o que de del al en con por para sin es son est\u00e1 " +
      "est\u00e1n est\u00e1s hay puede pueden puedes tu tus su sus te se le les lo nos usted muy " +
      "m\u00e1s pero tambi\u00e9n si s\u00ed esto eso este esta ese esa otro otra c\u00f3mo " +
      "qu\u00e9 cu\u00e1l frente cu\u00e1ndo d\u00f3nde hola gracias ayuda llama llame ketamina " +
      "tratamiento cl\u00ednica m\u00e9dico").split(" "),
    en: ("the an and or of to in on at for with from about by is are was were be it its you your " +
      "my this that these those what which how when where who can could would should will have " +
      "has do does not yes please call ketamine treatment clinic").split(" "),
  };
  var WORD_SETS = { es: {}, en: {} };
  ["es", "en"].forEach(function (lang) {
    WORDS[lang].forEach(function (w) { WORD_SETS[lang][w] = true; });
  });

  /** "es", "en", or null when the text does not show its language. */
  function textLanguage(text) {
    if (typeof text !== "string" || !text) return null;
    var lower = text.toLowerCase().replace(/\bhttps?:\/\/\S+|\b\S+\.(?:org|com|gov)\S*/g, " ");
    var es = (lower.match(/[\u00bf\u00a1\u00f1]|[\u00e1\u00e9\u00ed\u00f3\u00fa](?=\w)|ci(?:\u00f3n|ones)\b/g) || []).length;
    var en = 0;
    (lower.match(/[a-z\u00e1\u00e9\u00ed\u00f3\u00fa\u00fc\u00f1]+/g) || []).forEach(function (w) {
      if (WORD_SETS.es[w]) es++;
      if (WORD_SETS.en[w]) en++;
    });
    if (es === en) return null;
    return es > en ? "es" : "en";
  }

  // ---------------------------------------------------------------- server replies
  function cleanString(value, max) {
    return typeof value === "string" ? value.slice(0, max || MAX_TEXT) : "";
  }

  function cleanButtons(buttons) {
    if (!Array.isArray(buttons)) return [];
    return buttons.slice(0, 12).map(function (b) {
      if (!b || typeof b !== "object") return null;
      var title = cleanString(b.title, 200);
      var payload = cleanString(b.payload, INPUT_MAX) || title;
      return title ? { title: title, payload: payload } : null;
    }).filter(Boolean);
  }

  function cellText(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "string") return value.slice(0, 2000);
    if (typeof value === "number" || typeof value === "boolean") return String(value);
    if (typeof value === "object") {
      return cellText(value.text !== undefined ? value.text :
        value.title !== undefined ? value.title :
        value.label !== undefined ? value.label : value.value);
    }
    return "";
  }

  /** Keeps only the fields the widget renders, as plain strings. */
  function cleanTable(custom) {
    var columns = Array.isArray(custom.columns) ? custom.columns.slice(0, 12).map(cellText) : [];
    var rows = Array.isArray(custom.rows) ? custom.rows.slice(0, 60).map(function (row) {
      if (Array.isArray(row)) return row.slice(0, 12).map(cellText);
      if (row && typeof row === "object") {
        var cells = Array.isArray(row.cells) ? row.cells : Array.isArray(row.values) ? row.values : [];
        var label = row.label !== undefined ? row.label : row.title !== undefined ? row.title : row.feature;
        return (label !== undefined ? [label] : []).concat(cells).slice(0, 12).map(cellText);
      }
      return null;
    }).filter(Boolean) : [];
    var notes = [];
    ["note", "not_advice", "notes", "footnote", "disclaimer"].forEach(function (key) {
      var v = custom[key];
      if (typeof v === "string" && v.trim()) notes.push(v.slice(0, 2000));
      else if (Array.isArray(v)) {
        v.slice(0, 10).forEach(function (x) { var t = cellText(x); if (t) notes.push(t); });
      }
    });
    var sources = Array.isArray(custom.sources) ? custom.sources.slice(0, 12).map(function (src) {
      return typeof src === "string" ? src.slice(0, 300) : cellText(src && (src.title || src.file));
    }).filter(Boolean) : [];
    return {
      type: "comparison_table",
      title: cellText(custom.title),
      intro: cellText(custom.intro),
      columns: columns,
      rows: rows,
      notes: notes,
      sources: sources,
      reviewed: cellText(custom.reviewed).slice(0, 40),
    };
  }

  /** "2026-11-27" -> "November 27, 2026" / "27 de noviembre de 2026" (other text as it is). */
  function humanDate(iso, lang) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
    if (!m || +m[2] < 1 || +m[2] > 12) return iso;
    return t("date", { month: t("months", null, lang)[+m[2] - 1], day: +m[3], year: m[1] }, lang);
  }

  function cleanReply(item) {
    if (!item || typeof item !== "object") return null;
    var msg = { role: "bot" };
    var text = cleanString(item.text);
    if (text) msg.text = text;
    var buttons = cleanButtons(item.buttons);
    if (buttons.length) msg.buttons = buttons;
    var custom = item.custom && typeof item.custom === "object" ? item.custom : null;
    if (custom && custom.type === "crisis") {
      msg.crisis = true;
    } else if (custom && custom.type === "comparison_table") {
      msg.table = cleanTable(custom);
    } else if (custom && custom.type === "summary" && custom.copyable) {
      msg.copyable = true;
    } else if (custom && custom.type === "question" && isFinite(custom.step) && isFinite(custom.steps) &&
               +custom.steps > 1) {
      // Numbers, not words: "Question 2 of 5" is written in the reply's language when drawn.
      msg.step = { step: Math.floor(+custom.step), steps: Math.floor(+custom.steps) };
    }
    return msg.text || msg.buttons || msg.table || msg.copyable || msg.step || msg.crisis ? msg : null;
  }

  /**
   * A reply and its widget payload arrive as two list items: {text, buttons}
   * then {custom}. They are joined into one message, so the payload's table,
   * copy button or crisis mark goes with its text.
   */
  function mergeReplies(items) {
    var out = [];
    items.forEach(function (m) {
      var prev = out[out.length - 1];
      var payloadOnly = !m.text && !m.buttons;
      if (prev && payloadOnly && prev.text && !prev.table && !prev.copyable && !prev.step &&
          !prev.crisis) {
        if (m.table) prev.table = m.table;
        if (m.copyable) prev.copyable = true;
        if (m.step) prev.step = m.step;
        if (m.crisis) prev.crisis = true;
        if (!m.table && !m.copyable && !m.step && !m.crisis) out.push(m);
        return;
      }
      out.push(m);
    });
    return out.filter(function (m) { return m.text || m.buttons || m.table; });
  }

  // ---------------------------------------------------------------- DOM helpers
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function setAttrs(node, attrs) {
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function svgIcon(kind) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    setAttrs(svg, { viewBox: "0 0 24 24", width: "24", height: "24", "aria-hidden": "true",
      focusable: "false", "class": "kaid-icon" });
    var path = document.createElementNS(ns, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", kind === "close"
      ? "M18.3 5.7a1 1 0 0 0-1.4 0L12 10.6 7.1 5.7a1 1 0 0 0-1.4 1.4l4.9 4.9-4.9 4.9a1 1 0 1 0 1.4 1.4l4.9-4.9 4.9 4.9a1 1 0 0 0 1.4-1.4L13.4 12l4.9-4.9a1 1 0 0 0 0-1.4z"
      : "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2zm3 6a1.3 1.3 0 1 0 0 2.6A1.3 1.3 0 0 0 7 10zm5 0a1.3 1.3 0 1 0 0 2.6A1.3 1.3 0 0 0 12 10zm5 0a1.3 1.3 0 1 0 0 2.6A1.3 1.3 0 0 0 17 10z");
    svg.appendChild(path);
    return svg;
  }

  // ---------------------------------------------------------------- build UI
  var state = loadState();
  // The interface language: the visitor's (kept with the conversation), else the page's.
  var uiLang = normLang(state.lang) || pageLang;
  var busy = false;
  var lastFailed = null;

  function loadStylesheet() {
    var href = config.css;
    if (!href) {
      try { href = new URL("widget.css", script.src).href; } catch (e) { href = ""; }
    }
    var safe = safeHref(href);
    if (!safe || !/^https?:/i.test(safe)) return;
    if (document.querySelector('link[data-kaid-css]')) return;
    var linkEl = document.createElement("link");
    linkEl.rel = "stylesheet";
    linkEl.href = safe;
    linkEl.setAttribute("data-kaid-css", "");
    (document.head || document.documentElement).appendChild(linkEl);
  }

  var colors = palette();
  var root = el("div", "kaid-root kaid-pos-" + config.position);
  root.setAttribute("data-kaid", "");
  root.style.setProperty("--kaid-accent", colors.accent);
  root.style.setProperty("--kaid-on-accent", colors.onAccent);
  root.style.setProperty("--kaid-accent-ink", colors.accentInk);

  var launcher = setAttrs(el("button", "kaid-launcher"), {
    type: "button", "aria-expanded": "false", "aria-controls": "kaid-panel",
  });
  launcher.appendChild(svgIcon("chat"));
  var launcherLabel = el("span", "kaid-launcher-text");
  launcher.appendChild(launcherLabel);

  var panel = setAttrs(el("section", "kaid-panel"), {
    id: "kaid-panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "kaid-title",
    "aria-describedby": "kaid-disclaimer",
  });
  panel.hidden = true;

  // Header: title and close on the first row; "automated" note, the EN/ES
  // switch, expand and start over on the second. Every text is set by
  // applyStrings(), again whenever the language changes.
  var header = el("div", "kaid-header");
  var headTop = el("div", "kaid-header-row");
  var title = setAttrs(el("h2", "kaid-title"), { id: "kaid-title" });
  var closeBtn = setAttrs(el("button", "kaid-hbtn kaid-close"), { type: "button" });
  closeBtn.appendChild(svgIcon("close"));
  headTop.appendChild(title);
  headTop.appendChild(closeBtn);
  var headBottom = el("div", "kaid-header-row kaid-header-row2");
  var subtitle = el("p", "kaid-subtitle");
  headBottom.appendChild(subtitle);
  var headActions = el("div", "kaid-header-actions");
  // The language switch: one button per language, the current one pressed.
  // Each shows its code (EN / ES) and is named in its own language
  // ("English", "Espa\u00f1ol"), so it is found whichever language is on.
  var langSwitch = setAttrs(el("div", "kaid-lang"), { role: "group" });
  var langButtons = {};
  Object.keys(STRINGS).forEach(function (lang) {
    var btn = setAttrs(el("button", "kaid-hbtn kaid-lang-btn"), {
      type: "button", lang: lang, "data-kaid-lang": lang,
    });
    btn.appendChild(setAttrs(el("span", null, lang.toUpperCase()), { "aria-hidden": "true" }));
    btn.appendChild(el("span", "kaid-sr", STRINGS[lang].languageName));
    btn.addEventListener("click", function () { chooseLanguage(lang); });
    langButtons[lang] = btn;
    langSwitch.appendChild(btn);
  });
  var expandBtn = setAttrs(el("button", "kaid-hbtn kaid-expand"), {
    type: "button", "aria-pressed": "false",
  });
  var restartBtn = setAttrs(el("button", "kaid-hbtn kaid-restart"), { type: "button" });
  headActions.appendChild(langSwitch);
  headActions.appendChild(expandBtn);
  headActions.appendChild(restartBtn);
  headBottom.appendChild(headActions);
  header.appendChild(headTop);
  header.appendChild(headBottom);

  // Permanent crisis line under the header.
  var crisisBar = setAttrs(el("div", "kaid-crisis-bar"), { role: "note" });

  // Conversation log.
  var log = setAttrs(el("div", "kaid-log"), { role: "region", tabindex: "0" });
  var disclaimer = setAttrs(el("div", "kaid-disclaimer"), { id: "kaid-disclaimer" });
  var messages = el("div", "kaid-messages");
  log.appendChild(disclaimer);
  log.appendChild(messages);

  // Composer.
  var form = setAttrs(el("form", "kaid-form"), { novalidate: "" });
  var inputLabel = setAttrs(el("label", "kaid-sr"), { "for": "kaid-input" });
  var input = setAttrs(el("textarea", "kaid-input"), {
    id: "kaid-input", rows: "1", maxlength: String(INPUT_MAX), autocomplete: "off",
    "aria-describedby": "kaid-input-hint",
  });
  var inputHint = setAttrs(el("span", "kaid-sr"), { id: "kaid-input-hint" });
  var sendBtn = setAttrs(el("button", "kaid-send"), { type: "submit" });
  form.appendChild(inputLabel);
  form.appendChild(input);
  form.appendChild(inputHint);
  form.appendChild(sendBtn);

  // Deleting: always in reach under the message box.
  var footer = el("div", "kaid-footer");
  var deleteBtn = setAttrs(el("button", "kaid-delete"), { type: "button" });
  footer.appendChild(deleteBtn);

  /** Puts every interface text in the widget's language (on start and on a switch). */
  function applyStrings() {
    root.setAttribute("lang", uiLang);
    launcherLabel.textContent = launcherText(uiLang);
    title.textContent = titleText(uiLang);
    closeBtn.setAttribute("aria-label", t("close"));
    subtitle.textContent = t("subtitle");
    langSwitch.setAttribute("aria-label", t("languageGroup"));
    Object.keys(langButtons).forEach(function (lang) {
      langButtons[lang].setAttribute("aria-pressed", lang === uiLang ? "true" : "false");
    });
    var expanded = root.classList.contains("kaid-is-expanded");
    expandBtn.textContent = expanded ? t("shrink") : t("expand");
    expandBtn.setAttribute("title", t("expandTitle"));
    restartBtn.textContent = t("restart");
    restartBtn.setAttribute("title", t("restartTitle"));

    crisisBar.setAttribute("aria-label", t("crisisHelp"));
    crisisBar.textContent = "";
    crisisBar.appendChild(el("span", "kaid-crisis-bar-text", t("crisisBar")));
    var crisisLinks = el("span", "kaid-crisis-bar-links");
    crisisLinks.appendChild(link("tel:988", t("call988"), "kaid-crisis-link"));
    crisisLinks.appendChild(link("sms:988", t("text988"), "kaid-crisis-link"));
    crisisBar.appendChild(crisisLinks);

    log.setAttribute("aria-label", t("conversation"));
    disclaimer.textContent = "";
    disclaimer.appendChild(el("strong", "kaid-disclaimer-title", t("beforeYouStart")));
    disclaimer.appendChild(el("p", null, t("disclaimer")));
    var disclaimerCrisis = el("p", null, t("emergencyStart"));
    disclaimerCrisis.appendChild(link("tel:988", t("emergencyCall")));
    disclaimerCrisis.appendChild(document.createTextNode(", "));
    disclaimerCrisis.appendChild(link("sms:988", t("emergencyText")));
    disclaimerCrisis.appendChild(document.createTextNode(t("emergencyEnd")));
    disclaimer.appendChild(disclaimerCrisis);
    var days = config.retentionDays === 1 ? t("oneDay") : t("days", { n: config.retentionDays });
    disclaimer.appendChild(el("p", "kaid-privacy", t("privacy", {
      clinic: capitalize(clinicName(uiLang)), days: days, "delete": t("deleteButton"),
    })));

    inputLabel.textContent = t("inputLabel");
    input.setAttribute("placeholder", t("placeholder"));
    inputHint.textContent = t("inputHint");
    sendBtn.textContent = t("send");
    deleteBtn.textContent = t("deleteButton");
    deleteBtn.setAttribute("title", t("deleteTitle"));
  }

  // Screen-reader announcements (bot messages, errors).
  var live = setAttrs(el("div", "kaid-sr"), { "aria-live": "polite", role: "status", id: "kaid-live" });
  var alertLive = setAttrs(el("div", "kaid-sr"), { "aria-live": "assertive", role: "alert", id: "kaid-alert" });

  panel.appendChild(header);
  panel.appendChild(crisisBar);
  panel.appendChild(log);
  panel.appendChild(form);
  panel.appendChild(footer);
  panel.appendChild(live);
  panel.appendChild(alertLive);
  root.appendChild(panel);
  root.appendChild(launcher);
  applyStrings();

  // ---------------------------------------------------------------- language
  function setLanguage(lang) {
    uiLang = lang;
    applyStrings();
  }

  /** The EN/ES switch: the interface changes now, the bot's answers from the next message. */
  function chooseLanguage(lang) {
    lang = normLang(lang);
    if (!lang || lang === uiLang) return;
    state.lang = lang;
    saveState();
    var kind = noticeKind;
    var top = log.scrollTop;
    var atEnd = log.scrollHeight - top - log.clientHeight < 8;
    setLanguage(lang);
    renderAll();
    showNotice(kind, true);
    if (atEnd) scrollToEnd();
    else log.scrollTop = top;
    announce(t("languageChanged"), false);
  }

  /**
   * The widget follows the conversation. Each reply gets the language its
   * text is written in (else the whole answer's, else the widget's), and
   * when the bot answered in the other language (the visitor wrote in
   * Spanish on an English page, or asked "in English please") the interface
   * switches to it, so the next message carries that language too.
   */
  function followConversation(replies) {
    var texts = replies.map(function (m) {
      return m.text || (m.table ? m.table.title + " " + m.table.intro : "");
    });
    var lang = textLanguage(texts.join("\n"));
    replies.forEach(function (m, i) { m.lang = textLanguage(texts[i]) || lang || uiLang; });
    if (!lang) return;
    state.lang = lang;
    if (lang !== uiLang) setLanguage(lang);
  }

  // ---------------------------------------------------------------- rendering
  // A message's own words carry its language (lang on the bubble, so screen
  // readers pronounce them right); the labels the widget adds inside it
  // ("Sources:", "Copy this list"...) are written in that same language. The
  // "You said:" / "Assistant:" prefix is interface text, in the widget's.
  function bubble(role, extraClass) {
    var row = el("div", "kaid-msg kaid-" + role + (extraClass ? " " + extraClass : ""));
    var who = el("span", "kaid-sr", role === "user" ? t("youSaid") : t("assistant"));
    row.appendChild(who);
    return row;
  }

  /** The language a stored message is written in (older messages: read from the text). */
  function messageLang(msg) {
    return normLang(msg.lang) || textLanguage(msg.text || "") ||
      (msg.table ? textLanguage(msg.table.title + " " + msg.table.intro) : null) || uiLang;
  }

  function renderUser(msg) {
    var row = bubble("user");
    var body = setAttrs(el("div", "kaid-bubble"), { lang: messageLang(msg) });
    body.appendChild(document.createTextNode(msg.text));
    row.appendChild(body);
    return row;
  }

  function renderCrisis(text, lang) {
    var card = setAttrs(el("div", "kaid-crisis-card"), {
      role: "group", "aria-label": t("crisisHelp", null, lang), lang: lang,
    });
    card.appendChild(el("p", "kaid-crisis-heading", t("crisisHeading", null, lang)));
    // The actions come first, so they are on screen without scrolling.
    var actions = el("div", "kaid-crisis-actions");
    actions.appendChild(link("tel:988", t("call988", null, lang), "kaid-action kaid-action-primary"));
    actions.appendChild(link("sms:988", t("text988", null, lang), "kaid-action kaid-action-primary"));
    actions.appendChild(link("tel:911", t("call911", null, lang), "kaid-action kaid-action-emergency"));
    card.appendChild(actions);
    var body = el("div", "kaid-crisis-text");
    appendRichText(body, text, lang);
    card.appendChild(body);
    return card;
  }

  function renderTable(table, textVersion, lang) {
    var wrap = setAttrs(el("div", "kaid-table-wrap"), { lang: lang });
    var tableEl = setAttrs(el("table", "kaid-table"), { role: "table" });
    var width = Math.max(table.columns.length, table.rows.reduce(function (n, r) {
      return Math.max(n, r.length);
    }, 0));
    var columns = table.columns.slice();
    while (columns.length < width) columns.push("");
    if (table.title || table.intro) {
      var caption = el("caption");
      if (table.title) caption.appendChild(el("span", "kaid-table-title", table.title));
      if (table.intro) {
        var intro = el("span", "kaid-table-intro");
        appendRichText(intro, table.intro, lang);
        caption.appendChild(intro);
      }
      tableEl.appendChild(caption);
    }
    var thead = setAttrs(el("thead"), { role: "rowgroup" });
    var headRow = setAttrs(el("tr"), { role: "row" });
    columns.forEach(function (c, i) {
      var th = setAttrs(el("th"), { scope: "col", role: "columnheader" });
      if (c) th.textContent = c;
      else th.appendChild(el("span", "kaid-sr", i === 0 ? t("topic", null, lang) :
        t("column", { n: i + 1 }, lang)));
      headRow.appendChild(th);
    });
    thead.appendChild(headRow);
    tableEl.appendChild(thead);
    var tbody = setAttrs(el("tbody"), { role: "rowgroup" });
    table.rows.forEach(function (row) {
      var tr = setAttrs(el("tr"), { role: "row" });
      for (var i = 0; i < width; i++) {
        var value = row[i] === undefined ? "" : row[i];
        if (i === 0) {
          var th = setAttrs(el("th", "kaid-row-head"), { scope: "row", role: "rowheader" });
          appendRichText(th, value, lang);
          tr.appendChild(th);
        } else {
          var td = setAttrs(el("td"), { role: "cell" });
          if (columns[i]) {
            // The column name repeated for the stacked (phone) layout; screen
            // readers get it from the table headers instead.
            var label = setAttrs(el("span", "kaid-cell-label", columns[i]), { "aria-hidden": "true" });
            td.appendChild(label);
          }
          var val = el("span", "kaid-cell-value");
          appendRichText(val, value || "\u2014", lang);
          td.appendChild(val);
          tr.appendChild(td);
        }
      }
      tbody.appendChild(tr);
    });
    tableEl.appendChild(tbody);
    wrap.appendChild(tableEl);
    table.notes.forEach(function (note) {
      var p = el("p", "kaid-table-note");
      appendRichText(p, note, lang);
      wrap.appendChild(p);
    });
    if (table.sources.length) {
      wrap.appendChild(el("p", "kaid-table-meta",
        t("sources", { list: table.sources.join("; ") }, lang)));
    }
    if (table.reviewed) {
      wrap.appendChild(el("p", "kaid-table-meta",
        t("reviewed", { date: humanDate(table.reviewed, lang) }, lang)));
    }
    if (textVersion) {
      // The same information as plain text (the bot sends both), for copying
      // or for anyone who prefers reading it that way.
      var details = el("details", "kaid-text-version");
      details.appendChild(el("summary", null, t("showAsText", null, lang)));
      var body = el("div", "kaid-text-version-body");
      appendRichText(body, textVersion, lang);
      details.appendChild(body);
      wrap.appendChild(details);
    }
    return wrap;
  }

  function copyText(text, button, lang) {
    function done(ok) {
      button.textContent = ok ? t("copied", null, lang) : t("copySelect", null, lang);
      announce(ok ? t("copiedSaid", null, lang) : t("copyFailedSaid", null, lang), false, lang);
      window.setTimeout(function () { button.textContent = t("copyList", null, lang); }, 2500);
    }
    if (navigator.clipboard && typeof navigator.clipboard.writeText === "function") {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
    } else {
      done(false);
    }
  }

  /**
   * After a button that disappears (quick reply, retry) is used, focus must not
   * fall back to the page: keyboard users go on in the message box; after a
   * tap, focus rests on the conversation (no on-screen keyboard pops up).
   */
  function keepFocus(event) {
    if (event && event.detail === 0) input.focus();
    else log.focus({ preventScroll: true });
  }

  function renderButtons(buttons, onChoose, lang) {
    var group = setAttrs(el("div", "kaid-quick"), {
      role: "group", "aria-label": t("suggestedReplies"), lang: uiLang,
    });
    buttons.forEach(function (b) {
      var btn = setAttrs(el("button", "kaid-quick-btn", b.title), { type: "button" });
      // A button's title is the bot's text: its language, when it shows one.
      var own = textLanguage(b.title) || lang;
      if (own !== uiLang) btn.setAttribute("lang", own);
      btn.addEventListener("click", function (event) {
        onChoose(b);
        keepFocus(event);
      });
      group.appendChild(btn);
    });
    return group;
  }

  function stepText(step, lang) {
    if (typeof step === "string") return step; // saved before steps were numbers
    return t("question", { step: step.step, steps: step.steps }, lang);
  }

  function renderBot(msg, showButtons) {
    var frag = document.createDocumentFragment();
    var lang = messageLang(msg);
    if (msg.table) {
      // The table replaces its plain-text twin (kept under "Show as text").
      var trow = bubble("bot", "kaid-bot-table");
      trow.appendChild(renderTable(msg.table, msg.text, lang));
      frag.appendChild(trow);
    } else if (msg.text) {
      if (msg.crisis || isCrisisText(msg.text)) {
        var crow = bubble("bot", "kaid-bot-crisis");
        crow.appendChild(renderCrisis(msg.text, lang));
        frag.appendChild(crow);
      } else {
        var row = bubble("bot");
        var body = setAttrs(el("div", "kaid-bubble"), { lang: lang });
        if (msg.step) body.appendChild(el("span", "kaid-step", stepText(msg.step, lang)));
        appendRichText(body, msg.text, lang);
        if (msg.copyable) {
          var copy = setAttrs(el("button", "kaid-copy", t("copyList", null, lang)), { type: "button" });
          var text = msg.text;
          copy.addEventListener("click", function () { copyText(text, copy, lang); });
          body.appendChild(copy);
        }
        row.appendChild(body);
        frag.appendChild(row);
      }
    }
    if (msg.buttons && showButtons) {
      frag.appendChild(renderButtons(msg.buttons, function (b) {
        send(b.payload, b.title);
      }, lang));
    }
    return frag;
  }

  function renderGreeting(showSuggestions) {
    var frag = document.createDocumentFragment();
    var row = bubble("bot", "kaid-greeting");
    var body = setAttrs(el("div", "kaid-bubble"), { lang: uiLang });
    appendRichText(body, greetingText(uiLang), uiLang);
    row.appendChild(body);
    frag.appendChild(row);
    var suggestions = suggestionList(uiLang);
    if (showSuggestions && suggestions.length) {
      frag.appendChild(renderButtons(suggestions.map(function (s) {
        return { title: s, payload: s };
      }), function (b) { send(b.payload, b.title); }, uiLang));
    }
    return frag;
  }

  /** Re-draws the whole conversation from state (used on load and after changes). */
  function renderAll() {
    messages.textContent = "";
    typing = null;
    notice = null;
    noticeKind = null;
    var lastUser = -1;
    state.messages.forEach(function (m, i) { if (m.role === "user") lastUser = i; });
    messages.appendChild(renderGreeting(state.messages.length === 0));
    state.messages.forEach(function (m, i) {
      var node = m.role === "user" ? renderUser(m) : renderBot(m, i > lastUser && !busy);
      if (node.firstChild && node.nodeType === 11) node.firstChild.setAttribute("data-kaid-index", String(i));
      else if (node.setAttribute) node.setAttribute("data-kaid-index", String(i));
      messages.appendChild(node);
    });
    if (busy) showTyping(true);
    else log.removeAttribute("aria-busy");
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  /** Scrolls so a long reply is read from its start, a short one in full. */
  function revealFrom(index) {
    var first = messages.querySelector('[data-kaid-index="' + index + '"]');
    if (!first) { scrollToEnd(); return; }
    var top = first.offsetTop - 8; // .kaid-log is the offset parent (position: relative)
    if (log.scrollHeight - top > log.clientHeight) log.scrollTop = Math.max(0, top);
    else scrollToEnd();
  }

  /** On open: the disclaimer first for a new conversation, else the latest messages. */
  function scrollForOpen() {
    if (state.messages.length === 0) log.scrollTop = 0;
    else scrollToEnd();
  }

  /**
   * Says something through a live region: `what` is interface text, or a list
   * of [text, lang] parts (a reply's words keep their own language).
   */
  function announce(what, assertive, lang) {
    var region = assertive ? alertLive : live;
    var parts = typeof what === "string" ? [[what, lang || uiLang]] : what;
    region.textContent = "";
    window.setTimeout(function () {
      region.textContent = "";
      parts.forEach(function (part, i) {
        var span = setAttrs(el("span", null, (i ? " " : "") + part[0]), { lang: part[1] });
        region.appendChild(span);
      });
    }, 60);
  }

  function describeForScreenReader(msgs) {
    var parts = [[t("assistant").trim(), uiLang]];
    var assertive = false;
    msgs.forEach(function (m) {
      var lang = messageLang(m);
      if (m.table) {
        if (m.table.intro) parts.push([m.table.intro, lang]);
        var rows = m.table.rows.length === 1 ? t("oneRow", null, lang) :
          t("rows", { n: m.table.rows.length }, lang);
        parts.push([t("tableSaid", {
          title: m.table.title ? t("tableTitle", { title: m.table.title }, lang) : "", rows: rows,
        }, lang), lang]);
      } else if (m.text) {
        if (m.crisis || isCrisisText(m.text)) assertive = true;
        parts.push([m.text, lang]);
      }
      if (m.buttons) {
        parts.push([m.buttons.length === 1 ? t("oneSuggestion", null, lang) :
          t("suggestionsSaid", { n: m.buttons.length }, lang), lang]);
      }
    });
    return { parts: parts, assertive: assertive };
  }

  var typing = null;
  function showTyping(on) {
    if (on && !typing) {
      typing = setAttrs(el("div", "kaid-msg kaid-bot kaid-typing"), {});
      var dots = setAttrs(el("div", "kaid-bubble kaid-dots"), { "aria-hidden": "true" });
      dots.appendChild(el("span"));
      dots.appendChild(el("span"));
      dots.appendChild(el("span"));
      typing.appendChild(dots);
      typing.appendChild(el("span", "kaid-sr", t("typing")));
      messages.appendChild(typing);
      log.setAttribute("aria-busy", "true");
      scrollToEnd();
    } else if (!on && typing) {
      typing.parentNode && typing.parentNode.removeChild(typing);
      typing = null;
      log.removeAttribute("aria-busy");
    }
  }

  // The notice on show (offline, deleted...), redrawn in the new language on a switch.
  var notice = null;
  var noticeKind = null;
  function clearNotice() {
    if (notice && notice.parentNode) notice.parentNode.removeChild(notice);
    notice = null;
    noticeKind = null;
  }

  function showNotice(kind, quiet) {
    if (kind === "offline") showOffline(quiet);
    else if (kind === "deleteFailed") showDeleteFailed(quiet);
    else if (kind === "deleted") showDeleted(quiet);
  }

  function showOffline(quiet) {
    clearNotice();
    noticeKind = "offline";
    notice = el("div", "kaid-notice");
    var name = clinicName(uiLang);
    var hours = clinicHours(uiLang);
    var p1 = el("p", "kaid-notice-title", t("offlineTitle"));
    var p2 = el("p");
    p2.appendChild(document.createTextNode(t("offlineCall", { clinic: name })));
    if (config.clinicPhone) {
      p2.appendChild(document.createTextNode(t("offlineAt")));
      p2.appendChild(link(telHref(config.clinicPhone), config.clinicPhone));
      if (hours[0]) {
        p2.appendChild(document.createTextNode(" ("));
        p2.appendChild(hours[1] === uiLang ? document.createTextNode(hours[0]) :
          setAttrs(el("span", null, hours[0]), { lang: hours[1] }));
        p2.appendChild(document.createTextNode(")"));
      }
    }
    p2.appendChild(document.createTextNode("."));
    var p3 = el("p", null, t("offlineCrisis"));
    var retry = setAttrs(el("button", "kaid-retry", t("retry")), { type: "button" });
    retry.addEventListener("click", function (event) {
      if (lastFailed) {
        var again = lastFailed;
        clearNotice();
        post(again.payload, again.silent);
        keepFocus(event);
      }
    });
    notice.appendChild(p1);
    notice.appendChild(p2);
    notice.appendChild(p3);
    notice.appendChild(retry);
    messages.appendChild(notice);
    scrollToEnd();
    if (quiet) return;
    var phoneText = config.clinicPhone ? t("offlinePhone", {
      phone: config.clinicPhone, hours: hours[0] ? " (" + hours[0] + ")" : "",
    }) : "";
    announce(t("offlineSaid", { clinic: name, phone: phoneText }), true);
  }

  // ---------------------------------------------------------------- network
  function setBusy(on) {
    busy = on;
    sendBtn.setAttribute("aria-disabled", on ? "true" : "false");
    root.classList.toggle("kaid-is-busy", on);
  }

  function request(body, timeoutMs, keepalive) {
    if (!WEBHOOK) return Promise.reject(new Error("No server configured"));
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? window.setTimeout(function () { controller.abort(); }, timeoutMs) : null;
    return window.fetch(WEBHOOK, {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
      keepalive: !!keepalive,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal: controller ? controller.signal : undefined,
    }).then(function (resp) {
      if (timer) window.clearTimeout(timer);
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      return resp.json();
    }, function (err) {
      if (timer) window.clearTimeout(timer);
      throw err;
    });
  }

  /** Sends one message; the visitor's bubble shows `shown` (a button title) or the text. */
  function send(payload, shown) {
    payload = String(payload || "").trim();
    if (!payload || busy) return;
    var text = (shown || payload).slice(0, MAX_TEXT);
    state.messages.push({ role: "user", text: text, lang: textLanguage(text) || uiLang });
    saveState();
    clearNotice();
    renderAll();
    scrollToEnd();
    post(payload, false);
  }

  function post(payload, silent) {
    setBusy(true);
    renderAll();
    var sender = state.sender;
    // The widget's language goes with every message: the bot answers in it
    // when the message itself does not show its language ("OK", a button).
    // The widget shows the disclaimer above the conversation: the bot need not repeat it.
    var body = {
      sender: sender,
      message: payload,
      metadata: { language: uiLang, disclaimer_shown: true },
    };
    request(body, config.timeoutMs).then(function (data) {
      if (!Array.isArray(data)) throw new Error("Unexpected reply");
      if (sender !== state.sender) return; // the visitor started over meanwhile
      var replies = mergeReplies(data.map(cleanReply).filter(Boolean));
      lastFailed = null;
      showTyping(false);
      setBusy(false);
      followConversation(replies);
      var firstNew = state.messages.length;
      replies.forEach(function (m) { state.messages.push(m); });
      saveState();
      renderAll();
      revealFrom(firstNew);
      if (replies.length) {
        var said = describeForScreenReader(replies);
        announce(said.parts, said.assertive);
      }
      retryPendingDeletes(); // the server is reachable again
    }).catch(function () {
      if (sender !== state.sender) return;
      showTyping(false);
      setBusy(false);
      renderAll();
      lastFailed = { payload: payload, silent: silent };
      showOffline();
    });
  }

  /**
   * Deletes one conversation on the server. Resolves true when the server
   * confirmed it (204), false otherwise; never rejects.
   */
  function removeConversation(sender) {
    if (!CONVERSATIONS) return Promise.resolve(false);
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? window.setTimeout(function () { controller.abort(); }, config.timeoutMs) : null;
    try {
      return window.fetch(CONVERSATIONS + encodeURIComponent(sender), {
        method: "DELETE", mode: "cors", credentials: "omit", cache: "no-store", keepalive: true,
        referrerPolicy: "no-referrer", signal: controller ? controller.signal : undefined,
      }).then(function (resp) {
        if (timer) window.clearTimeout(timer);
        return resp.status === 204;
      }, function () {
        if (timer) window.clearTimeout(timer);
        return false;
      });
    } catch (e) {
      return Promise.resolve(false);
    }
  }

  function forgetPending(sender) {
    state.pendingDeletes = state.pendingDeletes.filter(function (id) { return id !== sender; });
    saveState();
  }

  var retrying = false;
  function retryPendingDeletes() {
    if (retrying || !state.pendingDeletes.length) return;
    retrying = true;
    var ids = state.pendingDeletes.slice();
    Promise.all(ids.map(function (id) {
      return removeConversation(id).then(function (ok) { if (ok) forgetPending(id); });
    })).then(function () { retrying = false; });
  }

  /** Clears the chat in the browser and starts a new conversation with a new id. */
  function resetConversation(pending) {
    state = {
      sender: newSenderId(), messages: [], open: state.open, lang: state.lang,
      pendingDeletes: pending.slice(-MAX_PENDING_DELETES),
    };
    lastFailed = null;
    showTyping(false);
    setBusy(false);
    clearNotice();
    saveState();
    renderAll();
    log.scrollTop = 0;
    input.value = "";
    autosize();
  }

  function startOver() {
    var oldSender = state.sender;
    var talked = state.messages.length > 0;
    resetConversation(talked ? state.pendingDeletes.concat([oldSender]) : state.pendingDeletes);
    if (talked && WEBHOOK) {
      // Ends the old conversation on the server (Rasa's built-in restart),
      // then deletes it there. If the server cannot be reached, the deletion
      // is tried again after the next answer or page load.
      request({ sender: oldSender, message: "/restart" }, config.timeoutMs, true)
        .catch(function () { /* the deletion below still runs */ })
        .then(function () { return removeConversation(oldSender); })
        .then(function (ok) { if (ok) forgetPending(oldSender); });
    }
    input.focus();
    announce(t("cleared"), false);
  }

  function showDeleteFailed(quiet) {
    clearNotice();
    noticeKind = "deleteFailed";
    notice = el("div", "kaid-notice");
    notice.appendChild(el("p", "kaid-notice-title", t("deleteFailed")));
    notice.appendChild(el("p", null, t("deleteFailedMore")));
    messages.appendChild(notice);
    scrollToEnd();
    if (!quiet) announce(t("deleteFailedSaid"), true);
  }

  function showDeleted(quiet) {
    clearNotice();
    noticeKind = "deleted";
    notice = setAttrs(el("div", "kaid-status"), { "data-kaid-deleted": "" });
    notice.appendChild(el("p", null, t("deleted")));
    messages.insertBefore(notice, messages.firstChild);
    if (!quiet) announce(t("deletedSaid"), false);
  }

  var deleting = false;
  function deleteConversation() {
    if (deleting) return;
    var sender = state.sender;
    if (!state.messages.length) {
      // Nothing was sent, so the server holds nothing: a new id is enough.
      resetConversation(state.pendingDeletes);
      showDeleted();
      return;
    }
    deleting = true;
    deleteBtn.setAttribute("aria-disabled", "true");
    removeConversation(sender).then(function (ok) {
      deleting = false;
      deleteBtn.setAttribute("aria-disabled", "false");
      if (!ok) {
        showDeleteFailed();
        return;
      }
      resetConversation(state.pendingDeletes);
      showDeleted();
      retryPendingDeletes();
    });
  }

  // ---------------------------------------------------------------- open / close
  function isOpen() { return !panel.hidden; }

  function open(focusInput) {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    root.classList.add("kaid-is-open");
    document.documentElement.classList.add("kaid-open");
    state.open = true;
    saveState();
    scrollForOpen();
    if (focusInput) input.focus();
  }

  function close() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    root.classList.remove("kaid-is-open");
    document.documentElement.classList.remove("kaid-open");
    state.open = false;
    saveState();
    launcher.focus();
  }

  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 120) + "px";
  }

  launcher.addEventListener("click", function () {
    if (isOpen()) close();
    else open(true);
  });
  closeBtn.addEventListener("click", close);
  restartBtn.addEventListener("click", startOver);
  deleteBtn.addEventListener("click", deleteConversation);
  expandBtn.addEventListener("click", function () {
    var on = !root.classList.contains("kaid-is-expanded");
    root.classList.toggle("kaid-is-expanded", on);
    expandBtn.setAttribute("aria-pressed", on ? "true" : "false");
    expandBtn.textContent = on ? t("shrink") : t("expand");
  });
  panel.addEventListener("keydown", function (e) {
    if (e.key === "Escape" || e.key === "Esc") {
      e.preventDefault();
      close();
    }
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (busy) return;
    var text = input.value;
    if (!text.trim()) { input.focus(); return; }
    input.value = "";
    autosize();
    send(text);
    input.focus();
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      if (typeof form.requestSubmit === "function") form.requestSubmit();
      else form.dispatchEvent(new Event("submit", { cancelable: true }));
    }
  });
  input.addEventListener("input", autosize);

  // ---------------------------------------------------------------- start
  function mount() {
    loadStylesheet();
    document.body.appendChild(root);
    renderAll();
    if (state.open) open(false);
    retryPendingDeletes();
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);

  // A small, read-only hook for tests and the clinic's own page scripts.
  window.KetamineAidWidget = {
    open: function () { open(true); },
    close: close,
    startOver: startOver,
    deleteConversation: deleteConversation,
    senderId: function () { return state.sender; },
    isCrisisText: isCrisisText,
    safeHref: safeHref,
    language: function () { return uiLang; },
    textLanguage: textLanguage,
    strings: function () { return JSON.parse(JSON.stringify(STRINGS)); },
  };
})();
