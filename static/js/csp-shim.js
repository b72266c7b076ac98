// Loaded before plotly.js. plotly.js (and the map code bundled in it) inject <style> elements and
// set style attributes, which the content-security policy (style-src 'self') refuses. Scripts of
// this origin may still style through the CSSOM, which the policy allows, so both are routed
// through it: style attributes become style.cssText, injected style sheets become constructed ones.
(function () {
  "use strict";
  function isStyle(name) { return typeof name === "string" && name.toLowerCase() === "style"; }

  var setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (isStyle(name) && this.style) { this.style.cssText = String(value); return; }
    return setAttribute.call(this, name, value);
  };
  var setAttributeNS = Element.prototype.setAttributeNS;
  Element.prototype.setAttributeNS = function (ns, name, value) {
    if (!ns && isStyle(name) && this.style) { this.style.cssText = String(value); return; }
    return setAttributeNS.call(this, ns, name, value);
  };

  var append = document.head.appendChild;
  document.head.appendChild = function (node) {
    if (node && node.tagName === "STYLE" && node.textContent && "adoptedStyleSheets" in document) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(node.textContent);
      document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
      return node;
    }
    return append.call(this, node);
  };
})();
