// Loaded before ReDoc, which the content-security policy would otherwise break in two places.
// Its styled-components inserts <style> elements and fills them through the CSSOM; the policy
// (style-src 'self') refuses the elements themselves but not the CSSOM, so each such element stays
// out of the document and gets a constructed, adopted style sheet to hold its rules. And its
// attribution logo comes from a CDN: images of other origins get an empty data: URL instead,
// whose load error makes ReDoc drop the image (the docs reach this origin only).
(function () {
  "use strict";
  if (!("adoptedStyleSheets" in document)) { return; }
  function adopt(node) {
    if (!node || node.tagName !== "STYLE") { return false; }
    var sheet = new CSSStyleSheet();
    if (node.textContent) { sheet.replaceSync(node.textContent); }
    Object.defineProperty(node, "sheet", { value: sheet });
    document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
    return true;
  }
  var setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (this.tagName === "IMG" && name === "src" && !sameOrigin(value)) { value = "data:,"; }
    return setAttribute.call(this, name, value);
  };
  function sameOrigin(url) {
    return new URL(String(url), document.baseURI).origin === window.location.origin;
  }
  var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    get: src.get,
    set: function (value) { src.set.call(this, sameOrigin(value) ? value : "data:,"); },
    configurable: true,
  });
  var append = Node.prototype.appendChild;
  Node.prototype.appendChild = function (node) {
    return adopt(node) ? node : append.call(this, node);
  };
  var insertBefore = Node.prototype.insertBefore;
  Node.prototype.insertBefore = function (node, ref) {
    return adopt(node) ? node : insertBefore.call(this, node, ref);
  };
})();
