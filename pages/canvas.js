// The Draw page's canvas (a Streamlit components.v2 component; pages/canvas.py mounts it).
// White strokes on a transparent layer over black; when the pen lifts, the drawing goes to
// Python at once as a PNG data URL ("drawing" state), or null once cleared.
export default function (component) {
  const { parentElement, data, setStateValue } = component;
  let root = parentElement.querySelector(".digit-canvas");
  if (!root) {
    root = build(parentElement, setStateValue);
  }
  root.strokeWidth = data.strokeWidth;
}

function build(parent, setStateValue) {
  const root = document.createElement("div");
  root.className = "digit-canvas";
  const canvas = document.createElement("canvas");
  canvas.width = 280;
  canvas.height = 280;
  canvas.setAttribute("aria-label", "Drawing canvas");
  const tools = document.createElement("div");
  tools.className = "tools";
  const undo = document.createElement("button");
  undo.textContent = "Undo";
  const clear = document.createElement("button");
  clear.textContent = "Clear";
  tools.append(undo, clear);
  root.append(canvas, tools);
  parent.appendChild(root);

  const context = canvas.getContext("2d");
  const strokes = [];
  let current = null;

  const point = (event) => {
    const box = canvas.getBoundingClientRect();
    return [((event.clientX - box.left) * canvas.width) / box.width, ((event.clientY - box.top) * canvas.height) / box.height];
  };
  const paint = (stroke) => {
    context.lineWidth = stroke.width;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.strokeStyle = "white";
    context.fillStyle = "white";
    if (stroke.points.length === 1) {
      const [x, y] = stroke.points[0];
      context.beginPath();
      context.arc(x, y, stroke.width / 2, 0, 2 * Math.PI);
      context.fill();
      return;
    }
    context.beginPath();
    context.moveTo(...stroke.points[0]);
    for (const [x, y] of stroke.points.slice(1)) context.lineTo(x, y);
    context.stroke();
  };
  const repaint = () => {
    context.clearRect(0, 0, canvas.width, canvas.height);
    strokes.forEach(paint);
  };
  const send = () => setStateValue("drawing", strokes.length ? canvas.toDataURL("image/png") : null);

  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    current = { width: root.strokeWidth, points: [point(event)] };
    strokes.push(current);
    paint(current);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!current) return;
    current.points.push(point(event));
    repaint();
  });
  const finish = () => {
    if (!current) return;
    current = null;
    send();
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
  undo.addEventListener("click", () => {
    strokes.pop();
    repaint();
    send();
  });
  clear.addEventListener("click", () => {
    strokes.length = 0;
    repaint();
    send();
  });
  return root;
}
