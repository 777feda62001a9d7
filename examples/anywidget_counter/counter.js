function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "counter-button";
  const show = () => { button.textContent = `count is ${model.get("count")}`; };
  button.addEventListener("click", () => {
    model.set("count", model.get("count") + 1);
    model.save_changes();
  });
  model.on("change:count", show);
  show();
  el.appendChild(button);
}
export default { render };
