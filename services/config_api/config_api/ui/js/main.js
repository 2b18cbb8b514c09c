// Entry point: one Vue app, one Pinia instance; templates are compiled in the browser by the full Vue build.
import { createApp } from "vue";
import { createPinia } from "pinia";
import { App } from "./components/App.js";

const app = createApp(App);
app.use(createPinia());
app.mount("#app");
