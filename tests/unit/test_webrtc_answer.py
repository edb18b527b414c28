"""The WebRTC answer asks the browser for the server's Opus bitrate (``opus_bitrate``)."""

from __future__ import annotations

from aiortc import RTCPeerConnection

from causerie.transports.webrtc import answer_offer, ask_opus_bitrate

CHROME_AUDIO = "\r\n".join(
    [
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 0",
        "a=rtpmap:111 opus/48000/2",
        "a=rtcp-fb:111 transport-cc",
        "a=fmtp:111 minptime=10;useinbandfec=1;maxaveragebitrate=20000",
        "a=rtpmap:63 red/48000/2",
        "a=fmtp:63 111/111",
        "a=rtpmap:0 PCMU/8000",
        "",
    ]
)


def test_an_existing_fmtp_keeps_its_parameters_and_gets_the_bitrate() -> None:
    out = ask_opus_bitrate(CHROME_AUDIO, 64000).split("\r\n")
    assert "a=fmtp:111 minptime=10;useinbandfec=1;maxaveragebitrate=64000" in out
    assert "a=fmtp:63 111/111" in out  # RED's fmtp is not Opus's: left alone
    assert len(out) == len(CHROME_AUDIO.split("\r\n"))
    assert out[-1] == ""  # the SDP still ends with CRLF


def test_an_opus_payload_without_fmtp_gets_one_after_its_rtpmap() -> None:
    sdp = "m=audio 9 UDP/TLS/RTP/SAVPF 96 0\r\na=rtpmap:96 OPUS/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"
    out = ask_opus_bitrate(sdp, 32000).split("\r\n")
    assert out[1:3] == ["a=rtpmap:96 OPUS/48000/2", "a=fmtp:96 maxaveragebitrate=32000"]
    assert ask_opus_bitrate("v=0\r\nm=audio 9 RTP/AVP 0\r\n", 64000).count("fmtp") == 0


async def test_the_answer_to_a_real_offer_asks_for_the_bitrate() -> None:
    client = RTCPeerConnection()
    client.addTransceiver("audio")
    client.createDataChannel("events")
    await client.setLocalDescription(await client.createOffer())
    answer, peer = await answer_offer(
        client.localDescription,
        connect_timeout=1,
        disconnect_grace=1,
        media_timeout=1,
        opus_bitrate=48000,
    )
    try:
        assert "maxaveragebitrate=48000" in answer.sdp
        await client.setRemoteDescription(answer)  # still an answer aiortc accepts
    finally:
        await peer.pc.close()
        await client.close()
