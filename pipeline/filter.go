package pipeline

// maxHampel is the largest Hampel window.
const maxHampel = 31
