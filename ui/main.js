import init from './parley_ui.js';
init();
