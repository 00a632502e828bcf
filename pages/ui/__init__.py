"""What the pages share: state and access, routing and fair share, cached resources and widgets
(common), the digit check, the Feature maps and Retrain panels, and the figures."""
