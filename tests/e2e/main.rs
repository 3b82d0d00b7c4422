//! End-to-end tests: the real `ghoststream` binary on 127.0.0.1:0, real ffmpeg on media
//! generated with lavfi, real HTTP and WebSocket clients, the published Python SDK and
//! hls.js in Chromium.

mod api;
mod batch;
mod clients;
mod dashboard;
mod discovery;
mod exposure;
mod faults;
mod fmp4;
mod gaming;
mod hostile;
mod joblogs;
mod lifecycle;
mod live;
mod load;
mod openapi;
mod security;
mod streams;
mod support;
mod uploads;
mod websocket;
